package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
)

type report struct {
	bare, rawStart, accept1, accept result
	commit                          *latencies
	acceptDrainNote                 string

	lagN                int
	lagP50, lagP99      time.Duration
	lagRate             float64
	rawItems, agItems   float64 // items (activities) per second
	rawE2E, agE2E       time.Duration
	e2eItems            int
	status              *latencies
	e2eReceipt          *latencies
	outBefore, outDown  window
	outAfter            window
	outAccepted         int
	outErrors           int64
	outRate             int
	outDoneAfterRestore time.Duration
	outAllDone          bool
	started             time.Time
}

type window struct {
	ok  int
	dur time.Duration
	lat *latencies
}

func (w window) rate() float64 { return float64(w.ok) / w.dur.Seconds() }

func (e *env) runAll(ctx context.Context) (*report, error) {
	r := &report{started: time.Now()}
	d := time.Duration(e.o.duration) * time.Second
	c := e.o.concurrency

	// 0. The floor under every receipt: one durable PostgreSQL commit.
	if err := e.commitFloor(ctx, r); err != nil {
		return nil, err
	}

	// 1. Accept path.
	progress("accept: bare Fiber handler, %d clients, %s", c, d)
	body := []byte(`{"data":[{"n":1}]}`)
	r.bare = closedLoop(ctx, "bare Fiber", c, d, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", e.fiberURL, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.gw.http.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	progress("accept: raw ExecuteWorkflow starts")
	r.rawStart = closedLoop(ctx, "raw ExecuteWorkflow", c, d, func(ctx context.Context) error {
		_, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-" + uuid.NewString(), TaskQueue: idleQueue,
			WorkflowExecutionTimeout: time.Minute}, "RawTrivial")
		return err
	})
	progress("accept: asyncgate submit of 1 item (receipt path)")
	body1 := noopBody(1)
	r.accept1 = closedLoop(ctx, "asyncgate submit, 1 item", c, d, func(ctx context.Context) error {
		_, err := e.gwAcc.submit(ctx, body1)
		return err
	})
	progress("accept: asyncgate submit of 40 items (receipt path)")
	body40 := noopBody(40)
	r.accept = closedLoop(ctx, "asyncgate submit, 40 items", c, d, func(ctx context.Context) error {
		_, err := e.gwAcc.submit(ctx, body40)
		return err
	})

	// 2. Submit-to-start lag under a paced load below saturation.
	if err := e.lag(ctx, r); err != nil {
		return nil, err
	}
	// 3. End to end.
	if err := e.endToEnd(ctx, r); err != nil {
		return nil, err
	}
	// 4. Outage.
	if err := e.outage(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (e *env) lag(ctx context.Context, r *report) error {
	const rate, n = 10, 5
	dur := 10 * time.Second
	if e.o.quick {
		dur = 4 * time.Second
	}
	progress("lag: %d submissions/s of %d items for %s", rate, n, dur)
	body := noopBody(n)
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	end := time.Now().Add(dur)
	var errs atomic.Int64
	for time.Now().Before(end) {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := e.gw.submit(ctx, body)
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	if errs.Load() > 0 {
		return fmt.Errorf("lag phase: %d submissions failed", errs.Load())
	}
	if _, err := e.waitDone(ctx, 2*time.Minute); err != nil {
		return err
	}
	var q struct {
		N        int     `db:"n"`
		P50, P99 float64 `db:"p50"`
	}
	row := e.db.QueryRowxContext(ctx, `SELECT count(*),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM dispatched_at - created_at)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM dispatched_at - created_at))
		FROM async_requests WHERE id = ANY($1::bigint[])`, "{"+strings.Join(ids, ",")+"}")
	if err := row.Scan(&q.N, &q.P50, &q.P99); err != nil {
		return fmt.Errorf("lag query: %w", err)
	}
	r.lagN, r.lagRate = q.N, rate
	r.lagP50 = time.Duration(q.P50 * float64(time.Second))
	r.lagP99 = time.Duration(q.P99 * float64(time.Second))
	return nil
}

// waitDone waits until no request of the main database is unfinished and
// returns when the last one finished.
func (e *env) waitDone(ctx context.Context, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var open int
		if err := e.db.GetContext(ctx, &open, `SELECT count(*) FROM async_requests WHERE status NOT IN ('done','canceled')`); err != nil {
			return time.Time{}, err
		}
		if open == 0 {
			var last time.Time
			err := e.db.GetContext(ctx, &last, `SELECT coalesce(max(finished_at), now()) FROM async_requests`)
			return last, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d requests still unfinished after %s", open, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) endToEnd(ctx context.Context, r *report) error {
	n := e.o.requests
	const items = 40
	r.e2eItems = n * items

	progress("end to end: raw, %d workflows × %d no-op activities", n, items)
	if err := e.rawW.Start(); err != nil {
		return fmt.Errorf("start raw worker: %w", err)
	}
	t0 := time.Now()
	runs := make([]client.WorkflowRun, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var startErr atomic.Value
	for range e.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-raw-" + uuid.NewString(), TaskQueue: rawQueue},
					"RawBatch", items, items)
				if err != nil {
					startErr.CompareAndSwap(nil, err)
					return
				}
				runs[i] = run
			}
		}()
	}
	wg.Wait()
	if err, _ := startErr.Load().(error); err != nil {
		return fmt.Errorf("raw start: %w", err)
	}
	for _, run := range runs {
		if err := run.Get(ctx, nil); err != nil {
			return fmt.Errorf("raw workflow: %w", err)
		}
	}
	r.rawE2E = time.Since(t0)
	r.rawItems = float64(r.e2eItems) / r.rawE2E.Seconds()
	e.rawW.Stop()
	e.rawW = nil

	progress("end to end: asyncgate, %d requests × %d no-op items, checkStatus polled meanwhile", n, items)
	body := noopBody(items)
	var ids []string
	var mu sync.Mutex
	r.status, r.e2eReceipt = &latencies{}, &latencies{}
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollWG sync.WaitGroup
	var pollErr atomic.Value
	for range 4 {
		pollWG.Add(1)
		go func() {
			defer pollWG.Done()
			for pollCtx.Err() == nil {
				mu.Lock()
				var id string
				if len(ids) > 0 {
					id = ids[rand.IntN(len(ids))]
				}
				mu.Unlock()
				if id == "" {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				t := time.Now()
				if _, err := e.gw.checkStatus(pollCtx, id); err != nil {
					if pollCtx.Err() == nil {
						pollErr.CompareAndSwap(nil, err)
					}
					continue
				}
				r.status.add(time.Since(t))
			}
		}()
	}
	t0 = time.Now()
	next.Store(0)
	var subErr atomic.Value
	for range e.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				t := time.Now()
				id, err := e.gw.submit(ctx, body)
				if err != nil {
					subErr.CompareAndSwap(nil, err)
					return
				}
				r.e2eReceipt.add(time.Since(t))
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, _ := subErr.Load().(error); err != nil {
		stopPoll()
		return fmt.Errorf("submit: %w", err)
	}
	last, err := e.waitDone(ctx, 10*time.Minute)
	stopPoll()
	pollWG.Wait()
	if err != nil {
		return err
	}
	if err, _ := pollErr.Load().(error); err != nil {
		return fmt.Errorf("checkStatus: %w", err)
	}
	r.agE2E = last.Sub(t0)
	r.agItems = float64(r.e2eItems) / r.agE2E.Seconds()
	return nil
}

// outage submits at a steady rate below capacity while the Temporal
// server is stopped and restarted, then checks every accepted request
// completes and every item has an outcome.
func (e *env) outage(ctx context.Context, r *report) error {
	const rate = 10
	down := time.Duration(e.o.outage) * time.Second
	before, after := 5*time.Second, 5*time.Second
	if e.o.quick {
		before, after = 2*time.Second, 2*time.Second
	}
	progress("outage: %d submissions/s for %s; Temporal down for %s after %s", rate, before+down+after, down, before)
	r.outRate = rate
	body := noopBody(5)
	lat := [3]*latencies{{}, {}, {}}
	var phase atomic.Int32
	var accepted, errs atomic.Int64
	ctx2, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for {
			select {
			case <-ctx2.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t, ph := time.Now(), phase.Load()
				if _, err := e.gw.submit(ctx, body); err != nil {
					errs.Add(1)
					progress("outage: submit failed: %v", err)
					return
				}
				lat[ph].add(time.Since(t))
				accepted.Add(1)
			}()
		}
	}()
	time.Sleep(before)
	phase.Store(1)
	progress("outage: stopping the Temporal server")
	downStart := time.Now()
	e.temporal.stop(5 * time.Second)
	time.Sleep(max(0, down-time.Since(downStart))) // down for at least the -outage seconds
	progress("outage: restarting the Temporal server")
	if err := e.startTemporal(); err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("restart Temporal: %w", err)
	}
	downFor := time.Since(downStart)
	phase.Store(2)
	restored := time.Now()
	time.Sleep(after)
	cancel()
	wg.Wait()
	r.outBefore = window{ok: lat[0].count(), dur: before, lat: lat[0]}
	r.outDown = window{ok: lat[1].count(), dur: downFor, lat: lat[1]}
	r.outAfter = window{ok: lat[2].count(), dur: after, lat: lat[2]}
	r.outAccepted, r.outErrors = int(accepted.Load()), errs.Load()
	last, err := e.waitDone(ctx, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("after the outage: %w", err)
	}
	r.outAllDone = true
	r.outDoneAfterRestore = last.Sub(restored)
	var lost int
	if err := e.db.GetContext(ctx, &lost, `SELECT count(*) FROM async_items WHERE status = 'pending'`); err != nil {
		return err
	}
	if lost != 0 {
		return fmt.Errorf("after the outage: %d items without an outcome", lost)
	}
	return nil
}

// commitFloor times single-row autocommit INSERTs, one at a time: the
// fsync every durable receipt waits for on this machine.
func (e *env) commitFloor(ctx context.Context, r *report) error {
	progress("commit floor: 200 sequential single-row INSERTs")
	if _, err := e.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("commit floor: %w", err)
	}
	r.commit = &latencies{}
	for range 200 {
		t := time.Now()
		if _, err := e.db.ExecContext(ctx, `INSERT INTO bench_commit DEFAULT VALUES`); err != nil {
			return fmt.Errorf("commit floor: %w", err)
		}
		r.commit.add(time.Since(t))
	}
	return nil
}
