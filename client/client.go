// Package client is a Go client of asyncgate's Kingdee-style protocol:
// token handling, submit, status, paged results, wait with progress,
// cancel, and verification of completion callbacks in both formats.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/asyncgate/asyncgate/notify"
)

// Client calls one gateway as one app. It is safe for concurrent use.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	AppKey  string
	Secret  string
	HTTP    *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns a client with a 30 s HTTP timeout.
func New(baseURL, appKey, secret string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), AppKey: appKey, Secret: secret,
		HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is a refusal: the HTTP status and the envelope's code and
// message (which names the offending field); Data carries extra facts,
// e.g. the original openApiReqId of a duplicate.
type APIError struct {
	HTTPStatus int
	Code       string
	Message    string
	Data       json.RawMessage
}

func (e *APIError) Error() string {
	return fmt.Sprintf("asyncgate: HTTP %d, errorCode %s: %s", e.HTTPStatus, e.Code, e.Message)
}

type envelope struct {
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"errorCode"`
	Message   string          `json:"message"`
	Status    bool            `json:"status"`
}

// Status is checkStatus's answer.
type Status struct {
	OpenAPIReqID string `json:"openApiReqId"`
	Status       string `json:"status"`
	Total        int    `json:"total"`
	Finished     int    `json:"finished"`
	Succeeded    int    `json:"succeeded"`
	Failed       int    `json:"failed"`
	Canceled     int    `json:"canceled"`
	Percent      int    `json:"percent"`
}

// Done reports whether the request will not change any more.
func (s Status) Done() bool { return s.Status == "done" || s.Status == "canceled" }

// Item is one item of a finished request.
type Item struct {
	Index    int             `json:"index"`
	Request  json.RawMessage `json:"request"`
	Success  bool            `json:"success"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result,omitempty"`
	SubCode  string          `json:"sub_code,omitempty"`
	SubMsg   string          `json:"sub_msg,omitempty"`
}

// Result is a page of queryResult.
type Result struct {
	Status     string `json:"status"`
	Total      int    `json:"total"`
	Succeeded  int    `json:"succeeded"`
	Failed     int    `json:"failed"`
	PageNo     int    `json:"pageNo"`
	TotalPages int    `json:"totalPages"`
	Items      []Item `json:"items"`
}

// Token returns a valid access token, fetching a new one when the cached
// one is about to expire.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > time.Minute {
		return c.token, nil
	}
	body, _ := json.Marshal(map[string]string{"client_id": c.AppKey, "client_secret": c.Secret})
	var d struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := c.do(ctx, http.MethodPost, "/kapi/oauth2/getToken", "", body, &d); err != nil {
		return "", err
	}
	c.token, c.expires = d.AccessToken, time.Now().Add(time.Duration(d.ExpiresIn)*time.Second)
	return c.token, nil
}

// Submit posts a call body to an API's path and returns the openApiReqId.
func (c *Client) Submit(ctx context.Context, path string, body []byte) (string, error) {
	var r struct {
		OpenAPIReqID string `json:"openApiReqId"`
	}
	if err := c.authed(ctx, http.MethodPost, path, body, &r); err != nil {
		return "", err
	}
	return r.OpenAPIReqID, nil
}

// Status asks for a request's progress.
func (c *Client) Status(ctx context.Context, path, id string) (Status, error) {
	var s Status
	err := c.authed(ctx, http.MethodGet, query(path, "checkStatus", id, ""), nil, &s)
	return s, err
}

// Result reads one page of a finished request's items (status only while
// it is unfinished).
func (c *Client) Result(ctx context.Context, path, id string, pageNo, pageSize int) (Result, error) {
	var r Result
	extra := fmt.Sprintf("&pageNo=%d&pageSize=%d", pageNo, pageSize)
	err := c.authed(ctx, http.MethodGet, query(path, "queryResult", id, extra), nil, &r)
	return r, err
}

// Items reads every item of a finished request, page by page.
func (c *Client) Items(ctx context.Context, path, id string) ([]Item, error) {
	var out []Item
	for page := 1; ; page++ {
		r, err := c.Result(ctx, path, id, page, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Items...)
		if page >= r.TotalPages {
			return out, nil
		}
	}
}

// Cancel cancels a request.
func (c *Client) Cancel(ctx context.Context, path, id string) (Status, error) {
	var s Status
	err := c.authed(ctx, http.MethodPost, query(path, "cancel", id, ""), nil, &s)
	return s, err
}

// Wait polls until the request is done or canceled, calling progress (if
// not nil) after each poll.
func (c *Client) Wait(ctx context.Context, path, id string, every time.Duration, progress func(Status)) (Status, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s, err := c.Status(ctx, path, id)
		if err != nil {
			return s, err
		}
		if progress != nil {
			progress(s)
		}
		if s.Done() {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-t.C:
		}
	}
}

func query(path, kind, id, extra string) string {
	return path + "?queryOpenApiType=" + kind + "&openApiReqId=" + url.QueryEscape(id) + extra
}

func (c *Client) authed(ctx context.Context, method, path string, body []byte, out any) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, tok, body, out)
}

// do makes a call and decodes the envelope's data (or a bare answer of a
// return-data-only API) into out.
func (c *Client) do(ctx context.Context, method, path, token string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return fmt.Errorf("asyncgate: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("access_token", token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("asyncgate: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("asyncgate: read answer: %w", err)
	}
	var env envelope
	isEnv := json.Unmarshal(raw, &env) == nil && env.ErrorCode != ""
	if resp.StatusCode >= 300 || (isEnv && !env.Status) {
		e := &APIError{HTTPStatus: resp.StatusCode, Code: env.ErrorCode, Message: env.Message, Data: env.Data}
		if !isEnv {
			e.Message = strings.TrimSpace(string(raw))
		}
		return e
	}
	data := raw
	if isEnv {
		data = env.Data
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("asyncgate: decode answer: %w", err)
		}
	}
	return nil
}

// VerifyWebhook checks a Standard Webhooks callback (headers webhook-id,
// webhook-timestamp, webhook-signature) with the app's whsec_ secret or its
// plain secret.
func VerifyWebhook(secret string, h http.Header, body []byte) error {
	return notify.VerifyWebhook(secret, h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"),
		body, time.Now())
}

// VerifyTOPCallback checks a TOP-format callback's form fields.
func VerifyTOPCallback(form url.Values, secret string) error {
	fields := make(map[string]string, len(form))
	for k := range form {
		fields[k] = form.Get(k)
	}
	if !notify.VerifyTOP(fields, secret) {
		return errors.New("asyncgate: TOP callback sign does not verify")
	}
	return nil
}
