package notify

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
)

// TestVerifyAcceptsWhatSenderSends round-trips both formats through a real
// loopback receiver and the receiver-side verifiers.
func TestVerifyAcceptsWhatSenderSends(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 2)
	bodies := make(chan []byte, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(srv.Close)
	s := NewSender(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	e := Event{RequestID: 1234567890123456789, APICode: "demo_trades", Status: "done", Total: 2, Succeeded: 1, Failed: 1,
		Created: time.Now()}

	a := s.Deliver(context.Background(), Target{URL: srv.URL, Format: FormatWebhook, AppKey: "k", Secret: "demo-secret"}, e)
	require.True(t, a.Delivered, a.Error)
	r, body := <-got, <-bodies
	h := r.Header
	require.NoError(t, VerifyWebhook(WebhookSecret("demo-secret"), h.Get("webhook-id"), h.Get("webhook-timestamp"),
		h.Get("webhook-signature"), body, time.Now()))
	require.NoError(t, VerifyWebhook("demo-secret", h.Get("webhook-id"), h.Get("webhook-timestamp"),
		"v1,bm90IGl0 "+h.Get("webhook-signature"), body, time.Now()), "any listed signature may match")

	tests := []struct {
		name                string
		secret, id, ts, sig string
		body                []byte
		now                 time.Time
		want                string
	}{
		{"wrong secret", WebhookSecret("other"), h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, time.Now(), "no webhook-signature"},
		{"tampered body", "demo-secret", h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), append([]byte(" "), body...), time.Now(), "no webhook-signature"},
		{"other id", "demo-secret", "msg_1", h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, time.Now(), "no webhook-signature"},
		{"stale", "demo-secret", h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, time.Now().Add(10 * time.Minute), "away from now"},
		{"bad timestamp", "demo-secret", h.Get("webhook-id"), "soon", h.Get("webhook-signature"), body, time.Now(), "unix time"},
		{"v2 only", "demo-secret", h.Get("webhook-id"), h.Get("webhook-timestamp"), "v2," + h.Get("webhook-signature")[3:], body, time.Now(), "no webhook-signature"},
	}
	for _, tt := range tests {
		err := VerifyWebhook(tt.secret, tt.id, tt.ts, tt.sig, tt.body, tt.now)
		require.ErrorContains(t, err, tt.want, tt.name)
	}

	a = s.Deliver(context.Background(), Target{URL: srv.URL, Format: FormatTOP, AppKey: "k", Secret: "top-secret"}, e)
	require.True(t, a.Delivered, a.Error)
	<-got
	form, err := url.ParseQuery(string(<-bodies))
	require.NoError(t, err)
	fields := map[string]string{}
	for k := range form {
		fields[k] = form.Get(k)
	}
	require.True(t, VerifyTOP(fields, "top-secret"))
	require.False(t, VerifyTOP(fields, "other-secret"))
	fields["message"] += " "
	require.False(t, VerifyTOP(fields, "top-secret"), "a changed message breaks the sign")
}
