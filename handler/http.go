package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/catalog"
)

// maxResponseBytes caps what is read (and stored) of a forward's answer.
const maxResponseBytes = 1 << 20

// HTTPForward sends one item as the JSON body of a call to a synchronous
// API. 2xx is success (the JSON answer is the item's result); the
// definition's business statuses (default: 4xx but 408 and 429) are final
// business errors; anything else — 5xx, 408, 429, timeouts, refused
// connections — is transient and retried by Temporal.
type HTTPForward struct {
	Client *http.Client
	Spec   catalog.HTTPForward
}

func (f *HTTPForward) Handle(ctx context.Context, it Item) (json.RawMessage, error) {
	timeout := f.Spec.Timeout.D()
	if timeout <= 0 {
		timeout = catalog.DefaultHTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	method := strings.ToUpper(f.Spec.Method)
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if method != http.MethodGet && method != http.MethodDelete {
		body = bytes.NewReader(it.Request)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.Spec.URL, body)
	if err != nil {
		return nil, Business("asyncgate.bad_forward_url", "the API's forward URL is invalid")
	}
	for k, v := range f.Spec.Headers {
		req.Header.Set(k, v)
	}
	for name, src := range f.Spec.HeaderMap {
		if v, ok := headerSource(it, src); ok {
			req.Header.Set(name, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Idempotency-Key", it.IdempotencyKey())
	req.Header.Set("X-Asyncgate-Request-Id", strconv.FormatInt(it.RequestID, 10))
	req.Header.Set("X-Asyncgate-Item", strconv.Itoa(it.Index))
	req.Header.Set("X-Asyncgate-Attempt", strconv.Itoa(it.Attempt))

	status, data, err := f.send(ctx, req, timeout, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	switch {
	case status >= 200 && status < 300:
		return asJSON(data), nil
	case f.isBusiness(status):
		return nil, businessFromBody(status, data)
	default:
		return nil, fmt.Errorf("forward %s: HTTP %d: %s", f.Spec.URL, status, snippet(data))
	}
}

// send makes the call and reads at most limit bytes of the answer; a
// failure to get an answer is a transient error.
func (f *HTTPForward) send(ctx context.Context, req *http.Request, timeout time.Duration, limit int64) (int, []byte, error) {
	resp, err := f.Client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("forward %s: timed out after %s", f.Spec.URL, timeout)
		}
		return 0, nil, fmt.Errorf("forward %s: %w", f.Spec.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, nil, fmt.Errorf("forward %s: read answer: %w", f.Spec.URL, err)
	}
	return resp.StatusCode, data, nil
}

// headerSource reads a HeaderMap source from the item: scalar fields as
// their text, objects and arrays as JSON.
func headerSource(it Item, src string) (string, bool) {
	switch {
	case src == "app_key":
		return it.AppKey, it.AppKey != ""
	case src == "request_id":
		return strconv.FormatInt(it.RequestID, 10), true
	case strings.HasPrefix(src, "control."):
		v, ok := it.Controls[strings.TrimPrefix(src, "control.")]
		return v, ok
	}
	obj, field := it.Request, strings.TrimPrefix(src, "item.")
	if rest, ok := strings.CutPrefix(src, "header."); ok {
		obj, field = it.Header, rest
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return "", false
	}
	raw, ok := m[field]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

func (f *HTTPForward) isBusiness(status int) bool {
	if len(f.Spec.BusinessStatuses) > 0 {
		return slices.Contains(f.Spec.BusinessStatuses, status)
	}
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// businessFromBody reads sub_code/sub_msg (TOP) or code/message (common
// REST) from a JSON error answer, falling back to the HTTP status.
func businessFromBody(status int, data []byte) *BusinessError {
	var b struct {
		SubCode string `json:"sub_code"`
		SubMsg  string `json:"sub_msg"`
		Code    any    `json:"code"`
		Message string `json:"message"`
		Msg     string `json:"msg"`
		Error   string `json:"error"`
	}
	be := &BusinessError{Code: "http." + strconv.Itoa(status), Msg: http.StatusText(status)}
	if json.Unmarshal(data, &b) != nil {
		if s := snippet(data); s != "" {
			be.Msg = s
		}
		return be
	}
	switch {
	case b.SubCode != "":
		be.Code = b.SubCode
	case b.Code != nil && fmt.Sprint(b.Code) != "":
		be.Code = fmt.Sprint(b.Code)
	}
	for _, m := range []string{b.SubMsg, b.Message, b.Msg, b.Error} {
		if m != "" {
			be.Msg = m
			break
		}
	}
	return be
}

// asJSON keeps a JSON answer as is and wraps anything else as a string.
func asJSON(data []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && json.Valid(trimmed) {
		return json.RawMessage(bytes.Clone(trimmed))
	}
	out, _ := json.Marshal(map[string]string{"body": string(data)})
	return out
}

func snippet(data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
