package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMetricsAreExposed(t *testing.T) {
	t.Parallel()
	m := New()
	m.Accepted("demo_order", "kapi")
	m.Accepted("demo_order", "kapi")
	m.Refused("demo_order", "top", "25")
	m.ItemAttempt("demo_order", "succeeded", 30*time.Millisecond)
	m.ItemAttempt("demo_order", "retry", time.Second)
	m.ItemFailed("demo_order")
	m.NotifyAttempt("webhook", true)
	calls := 0
	m.WatchBacklog(func(context.Context) (BacklogStats, error) {
		calls++
		if calls > 1 {
			return BacklogStats{}, errors.New("db down")
		}
		return BacklogStats{ByStatus: map[string]int{"new": 3, "doing": 2}, DispatchPending: 1, OldestUnfinished: 90 * time.Second}, nil
	})
	out := scrape(t, m)
	for _, want := range []string{
		`asyncgate_requests_accepted_total{api="demo_order",protocol="kapi"} 2`,
		`asyncgate_requests_refused_total{api="demo_order",protocol="top",reason="25"} 1`,
		`asyncgate_items_total{api="demo_order",outcome="succeeded"} 1`,
		`asyncgate_items_total{api="demo_order",outcome="failed"} 1`,
		`asyncgate_item_attempt_duration_seconds_count{api="demo_order",outcome="retry"} 1`,
		`asyncgate_notify_attempts_total{format="webhook",outcome="delivered"} 1`,
		`asyncgate_requests_unfinished{status="new"} 3`,
		`asyncgate_dispatch_pending 1`,
		`asyncgate_oldest_unfinished_seconds 90`,
		`asyncgate_backlog_up 1`,
		`go_goroutines`,
	} {
		require.Contains(t, out, want)
	}
	require.Contains(t, scrape(t, m), "asyncgate_backlog_up 0", "a failed read says so instead of failing the scrape")
}

func TestNilMetricsAreNoOps(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.Accepted("a", "kapi")
	m.Refused("a", "kapi", "400")
	m.ItemAttempt("a", "failed", time.Second)
	m.ItemFailed("a")
	m.NotifyAttempt("top", false)
	m.WatchBacklog(nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 404, rec.Code)
}

func TestTemporalSDKMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "q"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1) // other labels: dropped
	h.Gauge("temporal_num_pollers").Update(4)
	h.Timer("temporal_workflow_task_execution_latency").Record(20 * time.Millisecond)
	out := scrape(t, m)
	require.Contains(t, out, `temporal_request{namespace="default",task_queue="q"} 2`)
	require.Contains(t, out, `temporal_num_pollers{namespace="default",task_queue="q"} 4`)
	require.Contains(t, out, `temporal_workflow_task_execution_latency_seconds_count{namespace="default",task_queue="q"} 1`)

	var nilMetrics *Metrics
	nilMetrics.TemporalHandler().Counter("x").Inc(1) // no-op, no panic
}
