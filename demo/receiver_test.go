package demo

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/notify"
)

// The dev receiver accepts what the gateway's sender sends, and refuses a
// callback signed with another secret.
func TestReceiverVerifiesCallbacks(t *testing.T) {
	t.Parallel()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	rc := NewReceiver([]catalog.App{{AppKey: "demo-top-app", Secret: "demo-top-secret"}, {AppKey: "demo-app", Secret: "demo-secret"}})
	rc.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	base := "http://" + ln.Addr().String()

	s := notify.NewSender(notify.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	ev := notify.Event{RequestID: 1384026569608970240, APICode: "demo_trades_fullinfo_get",
		TopMethod: "taobao.topats.trades.fullinfo.get", Status: "done", Total: 1, Succeeded: 1, Created: time.Now()}
	tests := []struct {
		name, path, appKey, secret string
		format                     notify.Format
		want                       bool
	}{
		{"top", "/demo/notify/top", "demo-top-app", "demo-top-secret", notify.FormatTOP, true},
		{"top wrong secret", "/demo/notify/top", "demo-top-app", "nope", notify.FormatTOP, false},
		{"webhook", "/demo/notify/webhook", "demo-app", "demo-secret", notify.FormatWebhook, true},
		{"webhook wrong secret", "/demo/notify/webhook", "demo-app", "nope", notify.FormatWebhook, false},
	}
	for _, tc := range tests {
		a := s.Deliver(context.Background(), notify.Target{URL: base + tc.path, Format: tc.format, AppKey: tc.appKey, Secret: tc.secret}, ev)
		require.Equal(t, tc.want, a.Delivered, "%s: %+v", tc.name, a)
	}

	resp, err := http.Get(base + "/demo/notify/received")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var got struct {
		Received []Received `json:"received"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got.Received, 4)
	for i, tc := range tests {
		require.Equal(t, tc.want, got.Received[i].Verified, tc.name)
		require.Equal(t, string(tc.format), got.Received[i].Format)
	}
	require.JSONEq(t, `{"task":{"task_id":1384026569608970240,"created":"`+ev.Created.In(time.FixedZone("", 8*3600)).Format("2006-01-02 15:04:05")+`"}}`,
		string(got.Received[0].Message))
}
