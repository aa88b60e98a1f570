// Package e2e runs asyncgate the way it is deployed: the real binary as
// separate processes (embedded Temporal server, api, worker), real
// PostgreSQL, real HTTP, and a TCP proxy in front of the Temporal frontend
// so a test can make it unreachable.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/asyncgate/asyncgate/store/storetest"
)

var (
	binary       string // the asyncgate binary under test
	temporalAddr string // the shared embedded Temporal frontend
)

// TestMain builds the binary once (without -race: it embeds the Temporal
// server, and a race build of that is slow) and starts one embedded
// Temporal server for the package.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "asyncgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "asyncgate")
	build := exec.Command("go", "build", "-o", binary, "../cmd/asyncgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build asyncgate:", err)
		return 1
	}
	temporalAddr = freeAddr()
	tp := &proc{name: "temporal"}
	if err := tp.start(binary, []string{"temporal"}, map[string]string{
		"TEMPORAL_ADDRESS":           temporalAddr,
		"ASYNCGATE_TEMPORAL_UI_ADDR": "off",
		"ASYNCGATE_DATA_DIR":         filepath.Join(dir, "data"),
	}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start temporal:", err)
		return 1
	}
	defer tp.stop()
	if err := waitTCP(temporalAddr, 90*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temporal did not come up:", err, "\n", tp.output())
		return 1
	}
	if err := tp.waitOutput("Temporal frontend", 90*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temporal not ready:", err, "\n", tp.output())
		return 1
	}
	return m.Run()
}

// stack is one test's asyncgate: its own database, task queue, proxy, api
// and worker processes.
type stack struct {
	t          *testing.T
	dsn        string
	db         *sqlx.DB
	proxy      *proxy
	api        *proc
	workers    []*proc
	apiURL     string
	adminToken string
	env        map[string]string
	temporal   client.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dsn, db := storetest.NewDatabase(t)
	p, err := newProxy(temporalAddr)
	require.NoError(t, err)
	t.Cleanup(p.close)
	httpAddr := freeAddr()
	s := &stack{t: t, dsn: dsn, db: db, proxy: p, apiURL: "http://" + httpAddr, adminToken: "e2e-admin-token-0123456789"}
	s.env = map[string]string{
		"DATABASE_URL":           dsn,
		"TEMPORAL_ADDRESS":       p.addr(),
		"ASYNCGATE_HTTP_ADDR":    httpAddr,
		"ASYNCGATE_TASK_QUEUE":   "e2e-" + strings.ReplaceAll(t.Name(), "/", "-"),
		"ASYNCGATE_ADMIN_TOKEN":  s.adminToken,
		"ASYNCGATE_SEED_DEMO":    "true",
		"ASYNCGATE_LOG_LEVEL":    "info",
		"ASYNCGATE_METRICS_ADDR": "127.0.0.1:0",
		// Callbacks go to receivers on loopback, re-sent quickly.
		"ASYNCGATE_NOTIFY_ALLOW":   "127.0.0.0/8",
		"ASYNCGATE_NOTIFY_BACKOFF": "300ms",
		"ASYNCGATE_NOTIFY_TIMEOUT": "2s",
	}
	s.api = s.startProc("api", "api")
	require.NoError(t, waitHTTP(s.apiURL+"/readyz", 30*time.Second), s.api.output())
	s.startWorker()
	tc, err := client.Dial(client.Options{HostPort: temporalAddr})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	s.temporal = tc
	return s
}

func (s *stack) startProc(name string, args ...string) *proc {
	s.t.Helper()
	p := &proc{name: name}
	require.NoError(s.t, p.start(binary, args, s.env))
	s.t.Cleanup(func() {
		p.stop()
		if s.t.Failed() {
			s.t.Logf("--- %s output (tail) ---\n%s", name, tail(p.output(), 60))
		}
	})
	return p
}

func (s *stack) startWorker() *proc {
	w := s.startProc(fmt.Sprintf("worker-%d", len(s.workers)+1), "worker")
	s.workers = append(s.workers, w)
	require.NoError(s.t, w.waitOutput("worker polling", 60*time.Second), w.output())
	return w
}

// --- HTTP client for the Kingdee-style protocol ---------------------------

type envelope struct {
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"errorCode"`
	Message   string          `json:"message"`
	Status    bool            `json:"status"`
}

type response struct {
	code int
	env  envelope
	raw  []byte
	hdr  http.Header
}

func (s *stack) do(method, path string, header map[string]string, body []byte) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.apiURL+path, bytes.NewReader(body))
	require.NoError(s.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	r := response{code: resp.StatusCode, raw: raw, hdr: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(s.t, json.Unmarshal(raw, &r.env), string(raw))
	}
	return r
}

// headersOnly sends a request's headers announcing a body of n bytes and
// reads the answer without sending the body: the server must refuse an
// oversized body from its Content-Length alone. (A client that writes the
// body races the server closing the connection and may see a broken pipe
// instead of the answer.)
func (s *stack) headersOnly(method, path string, header map[string]string, n int) response {
	s.t.Helper()
	addr := strings.TrimPrefix(s.apiURL, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(s.t, err)
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, addr, n)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	_, err = conn.Write([]byte(b.String()))
	require.NoError(s.t, err)
	require.NoError(s.t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	r := response{code: resp.StatusCode, raw: raw, hdr: resp.Header}
	require.NoError(s.t, json.Unmarshal(raw, &r.env), string(raw))
	return r
}

func (s *stack) token(appKey, secret string) string {
	s.t.Helper()
	r := s.do("POST", "/kapi/oauth2/getToken", nil, mustJSON(map[string]string{"client_id": appKey, "client_secret": secret}))
	require.Equal(s.t, 200, r.code, string(r.raw))
	var d struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(s.t, json.Unmarshal(r.env.Data, &d))
	require.NotEmpty(s.t, d.AccessToken)
	require.InDelta(s.t, 7200, d.ExpiresIn, 2)
	return d.AccessToken
}

// submit posts a batch and returns the receipt's openApiReqId.
func (s *stack) submit(token, path string, body any) string {
	s.t.Helper()
	r := s.do("POST", path, map[string]string{"access_token": token}, mustJSON(body))
	require.Equal(s.t, 200, r.code, string(r.raw))
	require.True(s.t, r.env.Status, string(r.raw))
	require.Equal(s.t, "0", r.env.ErrorCode)
	var d struct {
		OpenAPIReqID string `json:"openApiReqId"`
		Status       string `json:"status"`
	}
	require.NoError(s.t, json.Unmarshal(r.env.Data, &d))
	require.Len(s.t, d.OpenAPIReqID, 19)
	require.Equal(s.t, "new", d.Status)
	return d.OpenAPIReqID
}

type statusData struct {
	OpenAPIReqID string `json:"openApiReqId"`
	Status       string `json:"status"`
	Total        int    `json:"total"`
	Finished     int    `json:"finished"`
	Succeeded    int    `json:"succeeded"`
	Failed       int    `json:"failed"`
	Canceled     int    `json:"canceled"`
	Percent      int    `json:"percent"`
	Source       string `json:"source"`
}

func (s *stack) checkStatus(token, path, id string) statusData {
	s.t.Helper()
	r := s.do("GET", path+"?queryOpenApiType=checkStatus&openApiReqId="+id, map[string]string{"access_token": token}, nil)
	require.Equal(s.t, 200, r.code, string(r.raw))
	var d statusData
	require.NoError(s.t, json.Unmarshal(r.env.Data, &d))
	return d
}

type resultItem struct {
	Index    int             `json:"index"`
	Request  json.RawMessage `json:"request"`
	Success  bool            `json:"success"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result"`
	SubCode  string          `json:"sub_code"`
	SubMsg   string          `json:"sub_msg"`
}

type resultData struct {
	OpenAPIReqID string       `json:"openApiReqId"`
	Status       string       `json:"status"`
	API          string       `json:"api"`
	Total        int          `json:"total"`
	Succeeded    int          `json:"succeeded"`
	Failed       int          `json:"failed"`
	Canceled     int          `json:"canceled"`
	PageNo       int          `json:"pageNo"`
	PageSize     int          `json:"pageSize"`
	TotalPages   int          `json:"totalPages"`
	Items        []resultItem `json:"items"`
}

func (s *stack) queryResult(token, path, id, extra string) resultData {
	s.t.Helper()
	r := s.do("GET", path+"?queryOpenApiType=queryResult&openApiReqId="+id+extra, map[string]string{"access_token": token}, nil)
	require.Equal(s.t, 200, r.code, string(r.raw))
	var d resultData
	require.NoError(s.t, json.Unmarshal(r.env.Data, &d))
	return d
}

// waitDone polls checkStatus until the request is done or canceled.
func (s *stack) waitDone(token, path, id string, timeout time.Duration) statusData {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.checkStatus(token, path, id)
		if st.Status == "done" || st.Status == "canceled" {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("request %s not finished after %s: %+v", id, timeout, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// allItems reads every page of a finished request's items.
func (s *stack) allItems(token, path, id string) []resultItem {
	s.t.Helper()
	var out []resultItem
	for page := 1; ; page++ {
		d := s.queryResult(token, path, id, fmt.Sprintf("&pageNo=%d&pageSize=100", page))
		out = append(out, d.Items...)
		if page >= d.TotalPages {
			return out
		}
	}
}

// itemRows counts item rows and final ones straight from the table: every
// item has exactly one row and at most one outcome.
func (s *stack) itemRows(id string) (total, final int) {
	s.t.Helper()
	require.NoError(s.t, s.db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status <> 'pending')
		FROM async_items WHERE request_id = $1`, id).Scan(&total, &final))
	return total, final
}

// admin calls the admin API and decodes its JSON answer into out (if given).
func (s *stack) admin(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	}
	req, err := http.NewRequest(method, s.apiURL+"/admin/api"+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(s.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// --- processes -------------------------------------------------------------

type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) start(bin string, args []string, env map[string]string) error {
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "ASYNCGATE_LOG_LEVEL=info")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		_ = w.Close()
		close(p.done)
	}()
	return nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) waitOutput(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before printing %q", p.name, p.err, s)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %q within %s", p.name, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// stop asks for a graceful shutdown (SIGTERM) and waits; it returns the exit error.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// kill is a crash: SIGKILL, nothing gets to finish.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- a TCP proxy that can be cut ------------------------------------------

// proxy forwards a loopback port to the Temporal frontend. cut closes the
// listener and every open connection, so the frontend is unreachable
// (connection refused) until restore.
type proxy struct {
	target string
	ln     net.Listener
	listen string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

func newProxy(target string) (*proxy, error) {
	p := &proxy{target: target, conns: map[net.Conn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.ln, p.listen = ln, ln.Addr().String()
	go p.accept(ln)
	return p, nil
}

func (p *proxy) addr() string { return p.listen }

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		return err
	}
	p.ln = ln
	go p.accept(ln)
	return nil
}

func (p *proxy) close() {
	p.cut()
	p.cancel()
}

// recordHistory writes the run's history as JSON into
// $ASYNCGATE_RECORD_HISTORIES/<name>.json when that variable is set
// (scripts/export-history); replay tests in workflows/ read them.
func (s *stack) recordHistory(id, name string) {
	s.t.Helper()
	s.recordHistoryOf("asyncgate-request-"+id, name)
}

// recordHistoryOf records the latest run of any workflow id.
func (s *stack) recordHistoryOf(wid, name string) {
	s.t.Helper()
	dir := os.Getenv("ASYNCGATE_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	// The table can say done a moment before the run closes: wait for it.
	_ = s.temporal.GetWorkflow(s.t.Context(), wid, "").Get(s.t.Context(), nil)
	iter := s.temporal.GetWorkflowHistory(s.t.Context(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(s.t, err)
		hist.Events = append(hist.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(s.t, err)
	require.NoError(s.t, os.MkdirAll(dir, 0o755))
	require.NoError(s.t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
	s.t.Logf("recorded %d events of %s into %s", len(hist.Events), wid, dir)
}
