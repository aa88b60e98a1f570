package main

import (
	"context"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// latencies collects samples from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// pct returns the p-th percentile (0–100).
func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// result of one closed-loop load.
type result struct {
	name     string
	ok       int64
	errors   int64
	elapsed  time.Duration
	lat      *latencies
	firstErr error
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// closedLoop runs op from c goroutines for d and measures each call.
func closedLoop(ctx context.Context, name string, c int, d time.Duration, op func(ctx context.Context) error) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, bad atomic.Int64
	var firstErr atomic.Value
	lat := &latencies{}
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(ctx)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat.add(time.Since(t0))
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	r := result{name: name, ok: ok.Load(), errors: bad.Load(), elapsed: time.Since(start), lat: lat}
	if e, _ := firstErr.Load().(error); e != nil {
		r.firstErr = e
	}
	return r
}
