package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/notify"
)

// The verifiers accept what the gateway's sender sends and nothing else.
func TestVerifyCallbacks(t *testing.T) {
	t.Parallel()
	type got struct {
		h    http.Header
		body []byte
	}
	ch := make(chan got, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Header.Clone(), b}
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(srv.Close)
	s := notify.NewSender(notify.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	ev := notify.Event{RequestID: 1384026569608970240, APICode: "a", Status: "done", Total: 1, Succeeded: 1, Created: time.Now()}

	require.True(t, s.Deliver(context.Background(), notify.Target{URL: srv.URL, Format: notify.FormatWebhook, AppKey: "k", Secret: "app-secret"}, ev).Delivered)
	g := <-ch
	require.NoError(t, VerifyWebhook(notify.WebhookSecret("app-secret"), g.h, g.body))
	require.NoError(t, VerifyWebhook("app-secret", g.h, g.body))
	require.Error(t, VerifyWebhook("other-secret", g.h, g.body))

	require.True(t, s.Deliver(context.Background(), notify.Target{URL: srv.URL, Format: notify.FormatTOP, AppKey: "k", Secret: "app-secret"}, ev).Delivered)
	g = <-ch
	form, err := url.ParseQuery(string(g.body))
	require.NoError(t, err)
	require.NoError(t, VerifyTOPCallback(form, "app-secret"))
	require.Error(t, VerifyTOPCallback(form, "other-secret"))
}
