package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

const noopPath = "/kapi/v2/demo/demo_noop/batch"

// gateway is a client of asyncgate's Kingdee-style protocol.
type gateway struct {
	base  string
	http  *http.Client
	token string
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute,
	}}
}

type envelope struct {
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"errorCode"`
	Message   string          `json:"message"`
}

func (g *gateway) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if g.token != "" {
		req.Header.Set("access_token", g.token)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != http.StatusOK || env.ErrorCode != "0" {
		return fmt.Errorf("%s %s: HTTP %d: %.200s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func (g *gateway) login(ctx context.Context) error {
	var d struct {
		AccessToken string `json:"access_token"`
	}
	if err := g.call(ctx, "POST", "/kapi/oauth2/getToken", []byte(`{"client_id":"demo-app","client_secret":"demo-secret"}`), &d); err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	g.token = d.AccessToken
	return nil
}

// noopBody is a batch of n no-op items.
func noopBody(n int) []byte {
	items := make([]map[string]int, n)
	for i := range items {
		items[i] = map[string]int{"n": i}
	}
	b, _ := json.Marshal(map[string]any{"data": items})
	return b
}

func (g *gateway) submit(ctx context.Context, body []byte) (string, error) {
	var d struct {
		OpenAPIReqID string `json:"openApiReqId"`
	}
	if err := g.call(ctx, "POST", noopPath, body, &d); err != nil {
		return "", err
	}
	return d.OpenAPIReqID, nil
}

func (g *gateway) checkStatus(ctx context.Context, id string) (string, error) {
	var d struct {
		Status string `json:"status"`
	}
	err := g.call(ctx, "GET", noopPath+"?queryOpenApiType=checkStatus&openApiReqId="+id, nil, &d)
	return d.Status, err
}
