// Package worker runs asyncgate's Temporal worker: the ProcessRequest
// workflow and its activities. `asyncgate worker`, `asyncgate dev` and the
// integration tests all start it through Run.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/asyncgate/asyncgate/activities"
	"github.com/asyncgate/asyncgate/workflows"
)

// Options configure a worker.
type Options struct {
	TaskQueue     string
	MaxActivities int // concurrent item activities
	MaxWorkflows  int // concurrent workflow tasks
	Pollers       int // long polls per task type; the SDK's default of 2 starves a busy worker
	StopTimeout   time.Duration
	Logger        *slog.Logger // "worker polling" is logged here once started; nil = quiet
}

// New builds a worker with the workflow and activities registered.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	w := sdkworker.New(c, o.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxWorkflows,
		WorkerStopTimeout:                      o.StopTimeout,
		MaxConcurrentWorkflowTaskPollers:       o.Pollers,
		MaxConcurrentActivityTaskPollers:       o.Pollers,
	})
	w.RegisterWorkflowWithOptions(workflows.ProcessRequest, workflow.RegisterOptions{Name: workflows.ProcessRequestName})
	w.RegisterWorkflowWithOptions(workflows.Notify, workflow.RegisterOptions{Name: workflows.NotifyName})
	w.RegisterActivity(acts)
	return w
}

// Run runs a worker until ctx ends, then stops it gracefully (in-flight
// activities get StopTimeout to finish).
func Run(ctx context.Context, c client.Client, acts *activities.Activities, o Options) error {
	w := New(c, acts, o)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %q: %w", o.TaskQueue, err)
	}
	if o.Logger != nil {
		o.Logger.Info("worker polling", "task_queue", o.TaskQueue)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// EnsureSearchAttributes registers asyncgate's custom search attributes on
// the namespace when they are missing. Workflows set them, so a namespace
// without them would fail every workflow task.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("add search attributes to %q (register %v by hand if this worker may not): %w",
			namespace, keys(missing), err)
	}
	return nil
}

func keys(m map[string]enumspb.IndexedValueType) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
