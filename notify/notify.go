// Package notify delivers completion callbacks ("request done") to an app's
// notify URL, as a TOP ATS form POST or as a Standard Webhook, over an HTTP
// client that refuses to dial internal addresses (SSRF guard).
//
// One Deliver call is one attempt: retrying is the caller's job (a Temporal
// activity with its own retry policy), so nothing here retries.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asyncgate/asyncgate/top"
)

// Format of a callback.
type Format string

const (
	FormatTOP     Format = "top"     // TOP form POST; delivered when the body is "true"
	FormatWebhook Format = "webhook" // Standard Webhooks JSON; any 2xx delivers
)

// Target is where and how to deliver.
type Target struct {
	URL    string
	Format Format
	AppKey string
	Secret string // the app secret; never logged, never in errors or Attempt
}

// Event is the finished request.
type Event struct {
	RequestID                          int64  // the 19-digit openApiReqId / TOP task_id
	APICode                            string // API code
	TopMethod                          string // TOP method name of the API, may be empty
	Status                             string // done | canceled
	Total, Succeeded, Failed, Canceled int
	Created                            time.Time // when the request was accepted
}

// Attempt is the record of one delivery attempt.
type Attempt struct {
	URL          string // the target URL, password (if any) redacted
	At           time.Time
	Duration     time.Duration
	HTTPStatus   int    // 0 when no response
	ResponseBody string // first 1024 bytes of the body (valid UTF-8, cut at a rune boundary)
	Error        string // why it was not delivered ("" when delivered); never contains the secret
	Delivered    bool
}

// Config configures a Sender.
type Config struct {
	Timeout time.Duration  // whole attempt (dial+TLS+headers+body); default 5s when 0
	Allow   []netip.Prefix // addresses allowed even though the guard would refuse them (dev: 127.0.0.0/8, ::1/128)
}

const (
	userAgent       = "asyncgate-notify/1"
	defaultTimeout  = 5 * time.Second
	maxDialTimeout  = 3 * time.Second
	maxResponseRead = 64 << 10
	maxBodyRecorded = 1024
)

// Sender delivers callbacks. It is safe for concurrent use; share one so
// connections to an app's receiver are reused.
type Sender struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// NewSender returns a Sender whose client dials only addresses the guard
// accepts (see Blocked) or cfg.Allow lists.
func NewSender(cfg Config) *Sender {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	dialer := &net.Dialer{
		Timeout:   min(timeout, maxDialTimeout),
		KeepAlive: 30 * time.Second,
		Control:   guard(slices.Clone(cfg.Allow)),
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would dial for us, past the guard
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxResponseRead,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	return &Sender{
		client: &http.Client{
			Transport: tr,
			// A redirect could point anywhere, and the receiver must answer itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: timeout,
		now:     time.Now,
	}
}

// Deliver makes one attempt; it never returns an error, the Attempt says
// what happened.
func (s *Sender) Deliver(ctx context.Context, t Target, e Event) (a Attempt) {
	now, start := s.now(), time.Now()
	a = Attempt{URL: t.URL, At: now}
	defer func() { a.Duration = time.Since(start) }()

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := newRequest(ctx, t, e, now)
	if req != nil {
		a.URL = req.URL.Redacted()
	}
	if err != nil {
		a.Error = err.Error()
		return a
	}
	resp, err := s.client.Do(req)
	if err != nil {
		a.Error = s.describe(err)
		return a
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	a.HTTPStatus, a.ResponseBody = resp.StatusCode, truncate(body, maxBodyRecorded)

	switch answer := strings.TrimSpace(string(body)); {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("HTTP %d (redirects are not followed)", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		a.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
	case t.Format != FormatTOP:
		a.Delivered = true // a webhook is delivered by the status alone
	case readErr != nil:
		a.Error = "reading response: " + s.describe(readErr)
	case !strings.EqualFold(answer, "true"):
		a.Error = fmt.Sprintf("receiver answered %q, want \"true\"", truncate([]byte(answer), 64))
	default:
		a.Delivered = true
	}
	return a
}

// newRequest builds the POST for t's format. The request is returned, with
// the error, once the URL parsed, so the Attempt can record the clean URL.
func newRequest(ctx context.Context, t Target, e Event, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid notify URL: %w", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return req, fmt.Errorf("refusing %q URL: only http and https are allowed", req.URL.Scheme)
	}
	if req.URL.Hostname() == "" {
		return req, errors.New("invalid notify URL: no host")
	}
	var body []byte
	switch t.Format {
	case FormatTOP:
		body, err = topRequest(req.Header, t, e, now)
	case FormatWebhook:
		body, err = webhookRequest(req.Header, t, e, now)
	default:
		err = fmt.Errorf("unknown notify format %q", t.Format)
	}
	if err != nil {
		return req, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req, nil
}

// topRequest is TOP's ATS callback: a signed form whose message names the
// finished task; the receiver then fetches results with taobao.topats.result.get.
func topRequest(h http.Header, t Target, e Event, now time.Time) ([]byte, error) {
	type task struct {
		TaskID  int64  `json:"task_id"`
		Created string `json:"created"`
	}
	msg, err := json.Marshal(struct {
		Task task `json:"task"`
	}{task{e.RequestID, top.FormatTime(e.Created)}})
	if err != nil {
		return nil, fmt.Errorf("encoding message: %w", err)
	}
	method := e.TopMethod
	if method == "" {
		method = e.APICode
	}
	p := top.Params{
		"app_key":   t.AppKey,
		"timestamp": top.FormatTime(now),
		"v":         "2.0",
		"format":    "json",
		"method":    method,
		"message":   string(msg),
	}
	sign, err := top.Sign(p, t.Secret, top.SignMD5)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	form := make(url.Values, len(p)+1)
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	h.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	return []byte(form.Encode()), nil
}

type webhookData struct {
	OpenAPIReqID string `json:"openApiReqId"` // a string: 19 digits overflow JavaScript numbers
	API          string `json:"api"`
	Status       string `json:"status"`
	Total        int    `json:"total"`
	Succeeded    int    `json:"succeeded"`
	Failed       int    `json:"failed"`
	Canceled     int    `json:"canceled"`
}

// webhookRequest is a Standard Webhooks message (standardwebhooks.com).
// The id derives from the request, so every attempt carries the same one
// and receivers can deduplicate.
func webhookRequest(h http.Header, t Target, e Event, now time.Time) ([]byte, error) {
	key, err := webhookKey(t.Secret)
	if err != nil {
		return nil, err
	}
	id := "msg_" + strconv.FormatInt(e.RequestID, 10)
	body, err := json.Marshal(struct {
		Type      string      `json:"type"`
		Timestamp string      `json:"timestamp"`
		Data      webhookData `json:"data"`
	}{"request.done", now.UTC().Format(time.RFC3339), webhookData{
		strconv.FormatInt(e.RequestID, 10), e.APICode, e.Status, e.Total, e.Succeeded, e.Failed, e.Canceled,
	}})
	if err != nil {
		return nil, fmt.Errorf("encoding payload: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	h.Set("Content-Type", "application/json")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return body, nil
}

const whsecPrefix = "whsec_"

// webhookKey is the HMAC key for an app secret: the secret's bytes, or, for
// a secret that is already a whsec_ string, the bytes it encodes.
func webhookKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, whsecPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		// The base64 error names only a byte offset, never the secret.
		return nil, fmt.Errorf("app secret starts with %s but is not valid base64: %w", whsecPrefix, err)
	}
	return key, nil
}

// WebhookSecret is the Standard Webhooks secret an app uses to verify
// callbacks: "whsec_" + base64(std, padded) of the app secret's bytes. A
// secret that already is a whsec_ string is returned as is, since its
// decoded bytes are the signing key.
func WebhookSecret(appSecret string) string {
	if strings.HasPrefix(appSecret, whsecPrefix) {
		return appSecret
	}
	return whsecPrefix + base64.StdEncoding.EncodeToString([]byte(appSecret))
}

// describe turns a client error into Attempt.Error: the guard's refusal
// verbatim, timeouts plainly, anything else without the url.Error wrapper
// (Attempt.URL already says which URL).
func (s *Sender) describe(err error) string {
	var refused *refusedError
	if errors.As(err, &refused) {
		return refused.Error()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timed out (limit %s)", s.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// truncate returns at most limit bytes of b as valid UTF-8, cut at a rune
// boundary; invalid bytes become U+FFFD.
func truncate(b []byte, limit int) string {
	n := 0
	for n < len(b) {
		_, size := utf8.DecodeRune(b[n:])
		if n+size > limit {
			break
		}
		n += size
	}
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD")
}
