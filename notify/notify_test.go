package notify

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

const (
	secret    = "s3cr3t-DO-NOT-LEAK"
	requestID = int64(1790000000000000001)
)

var (
	// fixedNow is 2024-05-06 15:08:09 in Beijing.
	fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	created  = time.Date(2024, 5, 6, 6, 0, 0, 0, time.UTC)
	loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	event    = Event{
		RequestID: requestID, APICode: "trade.fullinfo", TopMethod: "taobao.topats.trades.fullinfo.get",
		Status: "done", Total: 3, Succeeded: 2, Failed: 1, Created: created,
	}
)

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a loopback httptest server that records requests and answers
// with answer.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	reqs []received
}

func (r *receiver) last(t *testing.T) received {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.reqs, "receiver was not called")
	return r.reqs[len(r.reqs)-1]
}

// setup starts a receiver running answer, and a Sender with a fixed clock
// and cfg (Allow nil means the loopback receiver is refused).
func setup(t *testing.T, cfg Config, answer http.HandlerFunc) (*Sender, *receiver) {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Header.Clone(), body})
		rc.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(rc.Close)
	s := NewSender(cfg)
	s.now = func() time.Time { return fixedNow }
	return s, rc
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func topTarget(u string) Target {
	return Target{URL: u, Format: FormatTOP, AppKey: "12345678", Secret: secret}
}

func webhookTarget(u string) Target {
	return Target{URL: u, Format: FormatWebhook, AppKey: "12345678", Secret: secret}
}

func requireNoSecret(t *testing.T, a Attempt) {
	t.Helper()
	require.NotContains(t, a.Error, secret)
	require.NotContains(t, a.ResponseBody, secret)
	require.NotContains(t, a.URL, secret)
}

func TestTOPDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		delivered bool
		wantErr   string
	}{
		{"true", 200, "true", true, ""},
		{"true with whitespace, any case", 200, " \r\n TRUE\n", true, ""},
		{"false", 200, "false", false, `receiver answered "false", want "true"`},
		{"empty", 200, "", false, `receiver answered "", want "true"`},
		{"json true is not true", 200, `{"result":true}`, false, `receiver answered "{\"result\":true}"`},
		{"500 even with true", 500, "true", false, "HTTP 500"},
		{"404", 404, "not found", false, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(tt.status, tt.body))
			a := s.Deliver(context.Background(), topTarget(rc.URL), event)
			require.Equal(t, tt.delivered, a.Delivered, a.Error)
			require.Equal(t, tt.status, a.HTTPStatus)
			require.Equal(t, tt.body, a.ResponseBody)
			require.Equal(t, rc.URL, a.URL)
			require.Equal(t, fixedNow, a.At)
			require.Positive(t, a.Duration)
			if tt.delivered {
				require.Empty(t, a.Error)
			} else {
				require.Contains(t, a.Error, tt.wantErr)
			}
			require.EqualValues(t, 1, rc.hits.Load())
			requireNoSecret(t, a)
		})
	}
}

func TestTOPForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		topMethod  string
		wantMethod string
	}{
		{"TOP method", "taobao.topats.trades.fullinfo.get", "taobao.topats.trades.fullinfo.get"},
		{"falls back to the API code", "", "trade.fullinfo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(200, "true"))
			e := event
			e.TopMethod = tt.topMethod
			a := s.Deliver(context.Background(), topTarget(rc.URL), e)
			require.True(t, a.Delivered, a.Error)

			got := rc.last(t)
			require.Equal(t, "application/x-www-form-urlencoded;charset=utf-8", got.header.Get("Content-Type"))
			require.Equal(t, "asyncgate-notify/1", got.header.Get("User-Agent"))
			form, err := url.ParseQuery(string(got.body))
			require.NoError(t, err)

			const msg = `{"task":{"task_id":1790000000000000001,"created":"2024-05-06 14:00:00"}}`
			want := url.Values{
				"app_key":   {"12345678"},
				"timestamp": {"2024-05-06 15:08:09"},
				"v":         {"2.0"},
				"format":    {"json"},
				"method":    {tt.wantMethod},
				"message":   {msg},
			}
			// Signed string built by hand, names sorted: app_key format message method timestamp v.
			str := "app_key12345678" + "formatjson" + "message" + msg + "method" + tt.wantMethod +
				"timestamp2024-05-06 15:08:09" + "v2.0"
			sum := md5.Sum([]byte(secret + str + secret))
			want["sign"] = []string{strings.ToUpper(hex.EncodeToString(sum[:]))}
			require.Equal(t, want, form, "every field, nothing else (no sign_method)")
			require.NotContains(t, string(got.body), secret)
		})
	}
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		delivered bool
		wantErr   string
	}{
		{"200", 200, true, ""},
		{"202", 202, true, ""},
		{"204", 204, true, ""},
		{"500", 500, false, "HTTP 500"},
		{"400", 400, false, "HTTP 400"},
		{"304", 304, false, "HTTP 304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(tt.status, ""))
			a := s.Deliver(context.Background(), webhookTarget(rc.URL), event)
			require.Equal(t, tt.delivered, a.Delivered, a.Error)
			require.Equal(t, tt.status, a.HTTPStatus)
			if tt.delivered {
				require.Empty(t, a.Error)
			} else {
				require.Contains(t, a.Error, tt.wantErr)
			}
			requireNoSecret(t, a)
		})
	}
}

// verifyWebhook checks a Standard Webhooks signature the way a receiver
// would, with crypto/hmac directly.
func verifyWebhook(t *testing.T, got received, key []byte) {
	t.Helper()
	id, ts := got.header.Get("webhook-id"), got.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(got.body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), got.header.Get("webhook-signature"))
}

func TestWebhookMessage(t *testing.T) {
	t.Parallel()
	whsecKey := []byte{0x00, 0xff, 0x10, 'k', 'e', 'y'}
	tests := []struct {
		name   string
		secret string
		key    []byte
	}{
		{"raw secret", secret, []byte(secret)},
		{"whsec_ secret is decoded", "whsec_" + base64.StdEncoding.EncodeToString(whsecKey), whsecKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(200, ""))
			target := webhookTarget(rc.URL)
			target.Secret = tt.secret
			a := s.Deliver(context.Background(), target, event)
			require.True(t, a.Delivered, a.Error)

			got := rc.last(t)
			require.Equal(t, `{"type":"request.done","timestamp":"2024-05-06T07:08:09Z","data":{"openApiReqId":"1790000000000000001",`+
				`"api":"trade.fullinfo","status":"done","total":3,"succeeded":2,"failed":1,"canceled":0}}`, string(got.body))
			require.Equal(t, "application/json", got.header.Get("Content-Type"))
			require.Equal(t, "asyncgate-notify/1", got.header.Get("User-Agent"))
			require.Equal(t, "msg_1790000000000000001", got.header.Get("webhook-id"))
			require.Equal(t, "1714979289", got.header.Get("webhook-timestamp"))
			verifyWebhook(t, got, tt.key)
		})
	}
}

func TestWebhookIDStableAcrossAttempts(t *testing.T) {
	t.Parallel()
	s, rc := setup(t, Config{Allow: loopback}, reply(500, ""))
	first := s.Deliver(context.Background(), webhookTarget(rc.URL), event)
	id1 := rc.last(t).header.Get("webhook-id")
	s.now = func() time.Time { return fixedNow.Add(time.Minute) }
	second := s.Deliver(context.Background(), webhookTarget(rc.URL), event)
	got := rc.last(t)
	require.False(t, first.Delivered)
	require.False(t, second.Delivered)
	require.EqualValues(t, 2, rc.hits.Load(), "one request per Deliver, no retries")
	require.Equal(t, "msg_1790000000000000001", id1)
	require.Equal(t, id1, got.header.Get("webhook-id"))
	require.Equal(t, "1714979349", got.header.Get("webhook-timestamp"), "timestamp moves, id does not")
}

func TestWebhookSecret(t *testing.T) {
	t.Parallel()
	whsec := WebhookSecret("demo-secret")
	require.Equal(t, "whsec_ZGVtby1zZWNyZXQ=", whsec)
	require.Equal(t, whsec, WebhookSecret(whsec), "a whsec_ secret is its own verification secret")

	// A receiver verifies with the key decoded from the whsec_ string.
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	require.NoError(t, err)
	s, rc := setup(t, Config{Allow: loopback}, reply(204, ""))
	target := webhookTarget(rc.URL)
	target.Secret = "demo-secret"
	a := s.Deliver(context.Background(), target, event)
	require.True(t, a.Delivered, a.Error)
	verifyWebhook(t, rc.last(t), key)
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(string) Target
	}{
		{"top", topTarget},
		{"webhook", webhookTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, second := setup(t, Config{}, reply(200, "true"))
			s, first := setup(t, Config{Allow: loopback}, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, second.URL, http.StatusFound)
			})
			a := s.Deliver(context.Background(), tt.target(first.URL), event)
			require.False(t, a.Delivered)
			require.Equal(t, http.StatusFound, a.HTTPStatus)
			require.Contains(t, a.Error, "HTTP 302")
			require.EqualValues(t, 1, first.hits.Load())
			require.Zero(t, second.hits.Load(), "redirect target must never be hit")
			requireNoSecret(t, a)
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	tests := []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"no headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "tr")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Timeout: timeout, Allow: loopback}, tt.answer)
			start := time.Now()
			a := s.Deliver(context.Background(), topTarget(rc.URL), event)
			elapsed := time.Since(start)
			require.False(t, a.Delivered)
			require.Contains(t, a.Error, "timed out")
			require.Less(t, elapsed, timeout*3/2, "well under 2×Timeout")
			require.GreaterOrEqual(t, a.Duration, timeout)
			requireNoSecret(t, a)
		})
	}
}

func TestParentContextCanceled(t *testing.T) {
	t.Parallel()
	s, rc := setup(t, Config{Allow: loopback}, reply(200, "true"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := s.Deliver(ctx, topTarget(rc.URL), event)
	require.False(t, a.Delivered)
	require.Contains(t, a.Error, "canceled")
	require.Zero(t, rc.hits.Load())
}

func TestRefusedBeforeDialing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     func(srv string) string
		format  Format
		secret  string
		wantErr string
	}{
		{"ftp", func(srv string) string { return strings.Replace(srv, "http://", "ftp://", 1) }, FormatTOP, secret, `refusing "ftp" URL`},
		{"file", func(string) string { return "file:///etc/passwd" }, FormatTOP, secret, `refusing "file" URL`},
		{"gopher", func(srv string) string { return strings.Replace(srv, "http://", "gopher://", 1) }, FormatWebhook, secret, `refusing "gopher" URL`},
		{"no scheme", func(srv string) string { return strings.TrimPrefix(srv, "http://") }, FormatTOP, secret, "URL"},
		{"no host", func(string) string { return "http:///path" }, FormatTOP, secret, "no host"},
		{"unparsable", func(string) string { return "http://[::1" }, FormatTOP, secret, "invalid notify URL"},
		{"unknown format", func(srv string) string { return srv }, "xml", secret, `unknown notify format "xml"`},
		{"empty format", func(srv string) string { return srv }, "", secret, `unknown notify format ""`},
		{"bad whsec_ secret", func(srv string) string { return srv }, FormatWebhook, "whsec_" + secret + "!!", "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(200, "true"))
			a := s.Deliver(context.Background(), Target{URL: tt.url(rc.URL), Format: tt.format, AppKey: "k", Secret: tt.secret}, event)
			require.False(t, a.Delivered)
			require.Contains(t, a.Error, tt.wantErr)
			require.Zero(t, a.HTTPStatus)
			require.Zero(t, rc.hits.Load(), "nothing may be sent")
			require.NotContains(t, a.Error, tt.secret)
			requireNoSecret(t, a)
		})
	}
}

func TestResponseBodyTruncated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"short", "ok", "ok"},
		{"ascii", strings.Repeat("a", 2000), strings.Repeat("a", 1024)},
		{"exactly 1024", strings.Repeat("b", 1024), strings.Repeat("b", 1024)},
		{"cut at a rune boundary", strings.Repeat("é", 600), strings.Repeat("é", 512)},
		{"3-byte runes", "x" + strings.Repeat("世", 400), "x" + strings.Repeat("世", 341)},
		{"over the read limit", strings.Repeat("z", 200<<10), strings.Repeat("z", 1024)},
		{"invalid UTF-8", "ok\xff", "ok\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rc := setup(t, Config{Allow: loopback}, reply(200, tt.body))
			a := s.Deliver(context.Background(), topTarget(rc.URL), event)
			require.False(t, a.Delivered)
			require.Equal(t, tt.want, a.ResponseBody)
			require.True(t, utf8.ValidString(a.ResponseBody))
			require.Less(t, len(a.Error), 200, "the error quotes only a prefix of the answer")
		})
	}
}

func TestTransportHasNoProxy(t *testing.T) {
	t.Parallel()
	s := NewSender(Config{})
	tr, ok := s.client.Transport.(*http.Transport)
	require.True(t, ok)
	require.Nil(t, tr.Proxy, "an environment proxy would bypass the guard")
	require.Equal(t, defaultTimeout, s.timeout)
}
