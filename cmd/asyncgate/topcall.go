package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/top"
)

// runTopCall is `asyncgate top METHOD [name=value ...]`: one signed TOP call,
// the way TOP's SDKs make it, with the answer printed. Defaults reach the
// dev server as its demo TOP app.
func runTopCall(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(stdout)
	base := fs.String("url", envOr(getenv, "ASYNCGATE_URL", "http://127.0.0.1:8080"), "gateway address (ASYNCGATE_URL)")
	appKey := fs.String("app-key", envOr(getenv, "ASYNCGATE_TOP_APP_KEY", "demo-top-app"), "app key (ASYNCGATE_TOP_APP_KEY)")
	secret := fs.String("secret", envOr(getenv, "ASYNCGATE_TOP_SECRET", "demo-top-secret"), "app secret (ASYNCGATE_TOP_SECRET)")
	signMethod := fs.String("sign-method", "md5", "md5, hmac or hmac-sha256")
	format := fs.String("format", "json", "json or xml")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: asyncgate top [flags] METHOD [name=value ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return fmt.Errorf("top: METHOD is required")
	}
	m, ok := top.ParseSignMethod(*signMethod)
	if !ok {
		return fmt.Errorf("top: -sign-method %q is not md5, hmac or hmac-sha256", *signMethod)
	}
	p := top.Params{
		"method": fs.Arg(0), "app_key": *appKey, "v": "2.0", "sign_method": string(m), "format": *format,
		"timestamp": top.FormatTime(time.Now()),
	}
	for _, kv := range fs.Args()[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("top: argument %q is not name=value", kv)
		}
		p[k] = v
	}
	sign, err := top.Sign(p, *secret, m)
	if err != nil {
		return err
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*base, "/")+"/router/rest",
		strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("top: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("top: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("top: read answer: %w", err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	fmt.Fprintln(stdout, string(body))
	if bytes.Contains(body, []byte("error_response")) {
		return fmt.Errorf("top: %s answered error_response", fs.Arg(0))
	}
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
