// Package metrics is asyncgate's Prometheus instrumentation: one registry
// per process, served at /metrics by the api (and by a worker running
// alone). Every method is safe on a nil *Metrics, so code and tests that
// do not care pass nil.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the process's collectors.
type Metrics struct {
	reg            *prometheus.Registry
	accepted       *prometheus.CounterVec
	refused        *prometheus.CounterVec
	items          *prometheus.CounterVec
	itemDuration   *prometheus.HistogramVec
	notifyAttempts *prometheus.CounterVec
}

// New registers asyncgate's metrics and the Go runtime and process ones.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asyncgate_requests_accepted_total", Help: "Requests accepted (committed, receipt sent), by API and protocol.",
		}, []string{"api", "protocol"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asyncgate_requests_refused_total", Help: "Calls refused or failed, by API (empty when unknown) and reason (the protocol's error code).",
		}, []string{"api", "protocol", "reason"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asyncgate_items_total", Help: "Items with a final outcome, by API and outcome (succeeded, failed).",
		}, []string{"api", "outcome"}),
		itemDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "asyncgate_item_attempt_duration_seconds", Help: "Duration of one item attempt (handler call), by API and outcome (succeeded, failed, retry).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"api", "outcome"}),
		notifyAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asyncgate_notify_attempts_total", Help: "Completion callback attempts, by format and outcome (delivered, failed).",
		}, []string{"format", "outcome"}),
	}
	m.reg.MustRegister(m.accepted, m.refused, m.items, m.itemDuration, m.notifyAttempts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Accepted counts an accepted request.
func (m *Metrics) Accepted(api, protocol string) {
	if m != nil {
		m.accepted.WithLabelValues(api, protocol).Inc()
	}
}

// Refused counts a refused or failed call.
func (m *Metrics) Refused(api, protocol, reason string) {
	if m != nil {
		m.refused.WithLabelValues(api, protocol, reason).Inc()
	}
}

// ItemAttempt records one handler call; outcome is succeeded, failed or
// retry. Final outcomes also count the item.
func (m *Metrics) ItemAttempt(api, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.itemDuration.WithLabelValues(api, outcome).Observe(d.Seconds())
	if outcome != "retry" {
		m.items.WithLabelValues(api, outcome).Inc()
	}
}

// ItemFailed counts an item failed by the workflow (retries exhausted).
func (m *Metrics) ItemFailed(api string) {
	if m != nil {
		m.items.WithLabelValues(api, "failed").Inc()
	}
}

// NotifyAttempt counts a callback attempt.
func (m *Metrics) NotifyAttempt(format string, delivered bool) {
	if m == nil {
		return
	}
	outcome := "failed"
	if delivered {
		outcome = "delivered"
	}
	m.notifyAttempts.WithLabelValues(format, outcome).Inc()
}

// Backlog reads the intermediate table's state at scrape time.
type Backlog func(ctx context.Context) (BacklogStats, error)

// BacklogStats is the table's view of the queue.
type BacklogStats struct {
	ByStatus         map[string]int // unfinished requests by status (new, doing)
	DispatchPending  int            // accepted, workflow not started yet
	OldestUnfinished time.Duration  // age of the oldest new/doing request; 0 when none
}

// WatchBacklog adds gauges read from b on every scrape (bounded to 2 s).
func (m *Metrics) WatchBacklog(b Backlog) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&backlogCollector{b: b,
		requests: prometheus.NewDesc("asyncgate_requests_unfinished", "Unfinished requests in the intermediate table, by status.", []string{"status"}, nil),
		pending:  prometheus.NewDesc("asyncgate_dispatch_pending", "Accepted requests whose workflow is not started yet (the outbox backlog).", nil, nil),
		oldest:   prometheus.NewDesc("asyncgate_oldest_unfinished_seconds", "Age of the oldest unfinished request.", nil, nil),
		up:       prometheus.NewDesc("asyncgate_backlog_up", "1 when the backlog could be read from PostgreSQL.", nil, nil),
	})
}

type backlogCollector struct {
	b                             Backlog
	requests, pending, oldest, up *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.pending
	ch <- c.oldest
	ch <- c.up
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.b(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range []string{"new", "doing"} {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(st.ByStatus[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.DispatchPending))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestUnfinished.Seconds())
}
