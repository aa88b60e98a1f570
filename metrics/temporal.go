package metrics

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler reports the Temporal SDK's own metrics (task latencies,
// poll counts, activity and workflow outcomes…) into the registry, so
// /metrics of a worker carries them next to asyncgate's. Tags become
// labels; timers become histograms in seconds.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return &sdkHandler{s: &sdkState{reg: m.reg, vecs: map[string]prometheus.Collector{}}}
}

type sdkState struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	vecs map[string]prometheus.Collector // name + label names → vec
}

type sdkHandler struct {
	s    *sdkState
	keys []string // sorted tag names
	vals []string // their values
}

var invalidMetricChars = regexp.MustCompile(`[^a-zA-Z0-9_:]`)

func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.keys)+len(tags))
	for i, k := range h.keys {
		merged[k] = h.vals[i]
	}
	for k, v := range tags {
		merged[invalidMetricChars.ReplaceAllString(k, "_")] = v
	}
	n := &sdkHandler{s: h.s}
	for k := range merged {
		n.keys = append(n.keys, k)
	}
	sort.Strings(n.keys)
	for _, k := range n.keys {
		n.vals = append(n.vals, merged[k])
	}
	return n
}

// vec returns the collector for name with this handler's label names,
// registering it on first use; nil when the name is taken with other
// labels (Prometheus needs one label set per name: that variant is dropped).
func (h *sdkHandler) vec(name string, newVec func(string) prometheus.Collector) prometheus.Collector {
	name = invalidMetricChars.ReplaceAllString(name, "_")
	key := name + "{" + strings.Join(h.keys, ",") + "}"
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if c, ok := h.s.vecs[key]; ok {
		return c
	}
	c := newVec(name)
	if err := h.s.reg.Register(c); err != nil {
		c = nil
	}
	h.s.vecs[key] = c
	return c
}

func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	c, _ := h.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "Temporal SDK counter " + n}, h.keys)
	}).(*prometheus.CounterVec)
	if c == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	ctr := c.WithLabelValues(h.vals...)
	return counterFunc(func(d int64) { ctr.Add(float64(d)) })
}

func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	g, _ := h.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK gauge " + n}, h.keys)
	}).(*prometheus.GaugeVec)
	if g == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	gauge := g.WithLabelValues(h.vals...)
	return gaugeFunc(gauge.Set)
}

func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	t, _ := h.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n + "_seconds", Help: "Temporal SDK timer " + n,
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, h.keys)
	}).(*prometheus.HistogramVec)
	if t == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	obs := t.WithLabelValues(h.vals...)
	return timerFunc(func(d time.Duration) { obs.Observe(d.Seconds()) })
}

type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }
