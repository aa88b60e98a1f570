package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asyncgate/asyncgate/client"
)

// runCall is `asyncgate call API --data FILE [--wait] [--out FILE]`: submit
// a call, optionally wait with a progress bar, and write the items' results
// as JSON or CSV. API is a code (looked up in /openapi.json) or a URL path.
func runCall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr(getenv, "ASYNCGATE_URL", "http://127.0.0.1:8080"), "gateway address (ASYNCGATE_URL)")
	appKey := fs.String("app-key", envOr(getenv, "ASYNCGATE_APP_KEY", "demo-app"), "app key (ASYNCGATE_APP_KEY)")
	secret := fs.String("secret", envOr(getenv, "ASYNCGATE_APP_SECRET", "demo-secret"), "app secret (ASYNCGATE_APP_SECRET)")
	data := fs.String("data", "", "file with the JSON call body (- for stdin)")
	wait := fs.Bool("wait", false, "wait for the request to finish, showing progress, then write the results")
	out := fs.String("out", "", "write the results here (default stdout)")
	format := fs.String("format", "", "json or csv (default: from --out's extension, else json)")
	poll := fs.Duration("poll", 500*time.Millisecond, "how often to poll while waiting")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: asyncgate call [flags] API   (API: a code like demo_order_batchSave, a path /kapi/v2/…, or its full URL)")
		fs.PrintDefaults()
	}
	// Flags may follow the API: move it out of the way.
	var api string
	rest := args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		api, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if api == "" && fs.NArg() > 0 {
		api = fs.Arg(0)
	}
	if api == "" || *data == "" {
		fs.Usage()
		return errors.New("call: API and --data are required")
	}
	if *format == "" {
		*format = "json"
		if strings.EqualFold(filepath.Ext(*out), ".csv") {
			*format = "csv"
		}
	}
	if *format != "json" && *format != "csv" {
		return fmt.Errorf("call: --format %q is not json or csv", *format)
	}
	body, err := readData(*data)
	if err != nil {
		return err
	}
	if u, err := url.Parse(api); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		// A full URL names the gateway too.
		*base, api = u.Scheme+"://"+u.Host, u.Path
	}
	c := client.New(*base, *appKey, *secret)
	path, err := resolvePath(ctx, c, api)
	if err != nil {
		return err
	}
	id, err := c.Submit(ctx, path, body)
	if err != nil {
		return err
	}
	if !*wait {
		fmt.Fprintln(stdout, id)
		return nil
	}
	fmt.Fprintf(stderr, "openApiReqId %s\n", id)
	bar := newProgressBar(stderr)
	st, err := c.Wait(ctx, path, id, *poll, bar.update)
	bar.finish()
	if err != nil {
		return err
	}
	items, err := c.Items(ctx, path, id)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("call: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := writeItems(w, *format, items); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d succeeded, %d failed, %d canceled\n", st.Status, st.Succeeded, st.Failed, st.Canceled)
	return nil
}

func readData(name string) ([]byte, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("call: read --data: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("call: --data %s is not JSON", name)
	}
	return b, nil
}

// resolvePath turns an API code into its URL path via the public OpenAPI
// document (no admin token needed).
func resolvePath(ctx context.Context, c *client.Client, api string) (string, error) {
	if strings.HasPrefix(api, "/") {
		return api, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/openapi.json", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("call: look up API %s: %w", api, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", fmt.Errorf("call: read /openapi.json: %w", err)
	}
	for path, ops := range doc.Paths {
		for _, op := range ops {
			if op.OperationID == api {
				return path, nil
			}
		}
	}
	return "", fmt.Errorf("call: no published API %q (give its code or its /kapi/v2/… path)", api)
}

func writeItems(w io.Writer, format string, items []client.Item) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"index", "success", "status", "attempts", "sub_code", "sub_msg", "request", "result"})
	for _, it := range items {
		_ = cw.Write([]string{strconv.Itoa(it.Index), strconv.FormatBool(it.Success), it.Status, strconv.Itoa(it.Attempts),
			it.SubCode, it.SubMsg, string(it.Request), string(it.Result)})
	}
	cw.Flush()
	return cw.Error()
}

// progressBar draws "[#####-----] 20/40 items  13.2/s  ETA 2s" on one line.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, start: time.Now()} }

func (p *progressBar) update(s client.Status) {
	const width = 30
	filled := 0
	if s.Total > 0 {
		filled = s.Finished * width / s.Total
	}
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Finished) / elapsed
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(s.Total-s.Finished) / rate * float64(time.Second))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d items  %.1f/s  ETA %s  %s ", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		s.Finished, s.Total, rate, eta, s.Status)
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
