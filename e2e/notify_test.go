package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receiver is an ISV's callback endpoint on loopback. It verifies every
// callback itself (TOP md5 sign, or Standard Webhooks HMAC with the whsec_
// secret), and answers failure to the first failFirst of them.
type receiver struct {
	t         *testing.T
	format    string // top or webhook
	secret    string // the app secret
	url       string
	srv       *http.Server
	mu        sync.Mutex
	failFirst int
	posts     []post
}

type post struct {
	form     url.Values  // top
	header   http.Header // webhook
	body     []byte      // webhook
	verified string      // "" when the signature verified, else why not
	accepted bool        // answered as delivered
}

func newReceiver(t *testing.T, format, secret string, failFirst int) *receiver {
	r := &receiver{t: t, format: format, secret: secret, failFirst: failFirst}
	r.listen(freeAddr())
	return r
}

// listen serves on addr (a receiver can come up late at a known address).
func (r *receiver) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(r.t, err)
	r.url = "http://" + addr + "/callback"
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	r.t.Cleanup(func() { _ = r.srv.Close() })
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	p := post{header: req.Header.Clone(), body: body}
	if r.format == "top" {
		p.form, _ = url.ParseQuery(string(body))
		p.verified = r.verifyTOP(p.form)
	} else {
		p.verified = r.verifyWebhook(req.Header, body)
	}
	r.mu.Lock()
	fail := len(r.posts) < r.failFirst
	p.accepted = !fail && p.verified == ""
	r.posts = append(r.posts, p)
	r.mu.Unlock()
	switch {
	case r.format == "top" && p.accepted:
		_, _ = w.Write([]byte("true"))
	case r.format == "top":
		_, _ = w.Write([]byte("false")) // 200 but not "true": TOP re-sends
	case p.accepted:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// verifyTOP recomputes TOP's md5 sign over the form fields.
func (r *receiver) verifyTOP(f url.Values) string {
	fields := map[string]string{}
	for k := range f {
		fields[k] = f.Get(k)
	}
	for _, k := range []string{"app_key", "timestamp", "v", "format", "method", "message", "sign"} {
		if fields[k] == "" {
			return "missing " + k
		}
	}
	signer := topClient{secret: r.secret, signMethod: "md5"}
	if signer.sign(fields) != fields["sign"] {
		return "sign mismatch"
	}
	return ""
}

// verifyWebhook checks the Standard Webhooks signature with the secret an
// app is given: whsec_ + base64(app secret).
func (r *receiver) verifyWebhook(h http.Header, body []byte) string {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(r.secret))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		return err.Error()
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return "bad webhook-timestamp " + ts
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if h.Get("webhook-signature") != want {
		return "signature mismatch"
	}
	return ""
}

func (r *receiver) snapshot() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]post(nil), r.posts...)
}

func (r *receiver) setFailFirst(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failFirst = n
}

type deliveries struct {
	NotifyState string `json:"notify_state"`
	Attempts    []struct {
		Attempt    int    `json:"attempt"`
		URL        string `json:"url"`
		Format     string `json:"format"`
		HTTPStatus int    `json:"http_status"`
		Error      string `json:"error"`
		Delivered  bool   `json:"delivered"`
	} `json:"attempts"`
}

func (s *stack) deliveries(id string) deliveries {
	s.t.Helper()
	var d deliveries
	require.Equal(s.t, 200, s.admin("GET", "/requests/"+id+"/deliveries", nil, &d))
	return d
}

// waitNotify polls the request's callback until cond holds.
func (s *stack) waitNotify(id string, what string, cond func(deliveries) bool) deliveries {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := s.deliveries(id)
		if cond(d) {
			return d
		}
		require.True(s.t, time.Now().Before(deadline), "callback of %s never %s: %+v", id, what, d)
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *stack) setNotify(appKey, secret, format, notifyURL string) {
	s.t.Helper()
	app := map[string]any{"app_key": appKey, "secret": secret, "name": appKey, "notify_url": notifyURL,
		"notify_format": format, "grants": []string{"*"}}
	require.Equal(s.t, 200, s.admin("PUT", "/apps/"+appKey, app, nil))
	// Deliveries read the app's notify settings at each attempt.
}

func delivered(d deliveries) bool { return d.NotifyState == "delivered" }

// Both callback formats, each failing at first: re-sent with back-off,
// delivered once, every attempt recorded and signed.
func TestCallbacksAreSignedRetriedAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	// TOP format: the receiver answers "false" twice, then "true".
	topRcv := newReceiver(t, "top", "demo-top-secret", 2)
	s.setNotify("demo-top-app", "demo-top-secret", "top", topRcv.url)
	c := &topClient{t: t, url: s.apiURL, appKey: "demo-top-app", secret: "demo-top-secret", signMethod: "md5", format: "json"}
	taskID := c.createTask("taobao.topats.trades.fullinfo.get", map[string]string{"tids": "1001,1404", "fields": "tid"})
	c.waitTask(taskID, 60*time.Second)
	d := s.waitNotify(taskID, "delivered", delivered)
	require.Len(t, d.Attempts, 3)
	for i, a := range d.Attempts {
		require.Equal(t, i+1, a.Attempt)
		require.Equal(t, "top", a.Format)
		require.Equal(t, i == 2, a.Delivered)
	}
	require.Contains(t, d.Attempts[0].Error, `"false"`)
	posts := topRcv.snapshot()
	require.Len(t, posts, 3)
	for _, p := range posts {
		require.Empty(t, p.verified, "every attempt is signed")
		require.Equal(t, "demo-top-app", p.form.Get("app_key"))
		require.Equal(t, "2.0", p.form.Get("v"))
		require.Equal(t, "json", p.form.Get("format"))
		require.Equal(t, "taobao.topats.trades.fullinfo.get", p.form.Get("method"))
		var msg struct {
			Task struct {
				TaskID  json.Number `json:"task_id"`
				Created string      `json:"created"`
			} `json:"task"`
		}
		dec := json.NewDecoder(strings.NewReader(p.form.Get("message")))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&msg))
		require.Equal(t, taskID, msg.Task.TaskID.String())
		_, err := time.ParseInLocation("2006-01-02 15:04:05", msg.Task.Created, beijing)
		require.NoError(t, err)
	}

	// Webhook format for a Kingdee-style request: one 500, then 204.
	hookRcv := newReceiver(t, "webhook", "demo-secret", 1)
	s.setNotify("demo-app", "demo-secret", "webhook", hookRcv.url)
	token := s.token("demo-app", "demo-secret")
	id := s.submit(token, orderPath, orders(3, 1))
	s.waitDone(token, orderPath, id, 60*time.Second)
	d = s.waitNotify(id, "delivered", delivered)
	require.Len(t, d.Attempts, 2)
	s.recordHistory(id, "request_with_callback")
	s.recordHistoryOf("asyncgate-notify-"+id, "notify_retried_then_delivered")
	require.Equal(t, 500, d.Attempts[0].HTTPStatus)
	require.Equal(t, 204, d.Attempts[1].HTTPStatus)
	posts = hookRcv.snapshot()
	require.Len(t, posts, 2)
	require.Equal(t, posts[0].header.Get("webhook-id"), posts[1].header.Get("webhook-id"), "a re-send keeps the message id")
	for _, p := range posts {
		require.Empty(t, p.verified)
		var body struct {
			Type string `json:"type"`
			Data struct {
				OpenAPIReqID string `json:"openApiReqId"`
				API          string `json:"api"`
				Status       string `json:"status"`
				Total        int    `json:"total"`
				Succeeded    int    `json:"succeeded"`
				Failed       int    `json:"failed"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(p.body, &body))
		require.Equal(t, "request.done", body.Type)
		require.Equal(t, id, body.Data.OpenAPIReqID)
		require.Equal(t, "demo_order_batchSave", body.Data.API)
		require.Equal(t, "done", body.Data.Status)
		require.Equal(t, 3, body.Data.Total)
		require.Equal(t, 2, body.Data.Succeeded)
		require.Equal(t, 1, body.Data.Failed)
	}

	// Nothing more arrives after delivery.
	time.Sleep(2 * time.Second)
	require.Len(t, topRcv.snapshot(), 3)
	require.Len(t, hookRcv.snapshot(), 2)
}

// A receiver that is down for a while gets the callback exactly once when
// it comes back; one that never accepts leaves the request notify-failed
// until an admin redelivers; a loopback address outside the allow-list is
// refused by the SSRF guard.
func TestCallbackOutageFailureAndRedelivery(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	token := s.token("demo-app", "demo-secret")
	submit := func(notifyURL string) string {
		s.setNotify("demo-app", "demo-secret", "webhook", notifyURL)
		return s.submit(token, orderPath, orders(2))
	}

	// Down, then back at the same address.
	addr := freeAddr()
	id := submit("http://" + addr + "/callback")
	s.waitNotify(id, "tried twice", func(d deliveries) bool { return len(d.Attempts) >= 2 })
	rcv := &receiver{t: t, format: "webhook", secret: "demo-secret"}
	rcv.listen(addr)
	d := s.waitNotify(id, "delivered", delivered)
	ok := 0
	for _, a := range d.Attempts {
		if a.Delivered {
			ok++
		}
	}
	require.Equal(t, 1, ok, "%+v", d)
	require.Contains(t, d.Attempts[0].Error, "refused")
	time.Sleep(2 * time.Second)
	require.Len(t, rcv.snapshot(), 1, "exactly one delivery reached the receiver")
	require.Empty(t, rcv.snapshot()[0].verified)

	// Never accepted: 4 attempts, then notify-failed; redelivery succeeds once fixed.
	bad := newReceiver(t, "webhook", "demo-secret", 1000)
	id = submit(bad.url)
	d = s.waitNotify(id, "failed", func(d deliveries) bool { return d.NotifyState == "failed" })
	require.Len(t, d.Attempts, 4, "the first attempt and 3 re-sends")
	s.recordHistoryOf("asyncgate-notify-"+id, "notify_failed")
	var req map[string]any
	require.Equal(t, 200, s.admin("GET", "/requests/"+id, nil, &req))
	require.Equal(t, "failed", req["notify_state"])
	bad.setFailFirst(0)
	require.Equal(t, 202, s.admin("POST", "/requests/"+id+"/redeliver", nil, nil))
	d = s.waitNotify(id, "redelivered", delivered)
	require.Len(t, d.Attempts, 5)
	require.True(t, d.Attempts[4].Delivered)
	require.Len(t, bad.snapshot(), 5)
	require.Equal(t, 409, s.admin("POST", "/requests/"+id+"/redeliver", nil, nil), "delivered: nothing to redeliver")

	// ::1 is loopback but not in this stack's allow-list (127.0.0.0/8).
	id = submit("http://[::1]:9/callback")
	d = s.waitNotify(id, "failed", func(d deliveries) bool { return d.NotifyState == "failed" })
	for _, a := range d.Attempts {
		require.Contains(t, a.Error, "refusing to dial")
		require.Contains(t, a.Error, "loopback")
	}
}
