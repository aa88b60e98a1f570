// Package dispatch starts workflows from the intermediate table (the
// outbox). The API answers once a request is committed to PostgreSQL and
// kicks the dispatcher; the dispatcher starts the workflow, and its sweep
// picks up anything left unstarted (Temporal down, a process killed right
// after answering). Several dispatchers may run: rows are leased with
// FOR UPDATE SKIP LOCKED.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/asyncgate/asyncgate/catalog"
	"github.com/asyncgate/asyncgate/store"
	"github.com/asyncgate/asyncgate/workflows"
)

// Starter is the part of the Temporal client the dispatcher uses.
type Starter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// Options configure a Dispatcher.
type Options struct {
	TaskQueue    string
	Concurrency  int           // workflow starts in flight; default 16
	Sweep        time.Duration // how often to look for unstarted rows without a kick; default 1s
	Lease        time.Duration // how long a claimed row is ours; default 30s
	StartTimeout time.Duration // one ExecuteWorkflow call; default 5s
	MaxBackoff   time.Duration // between attempts for one row; default 5s
}

// Dispatcher starts request workflows from the table.
type Dispatcher struct {
	store   *store.Store
	catalog *catalog.Cache
	starter Starter
	opts    Options
	log     *slog.Logger
	kick    chan struct{}
}

// New returns a Dispatcher; call Run.
func New(s *store.Store, c *catalog.Cache, starter Starter, o Options, log *slog.Logger) *Dispatcher {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Sweep <= 0 {
		o.Sweep = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	return &Dispatcher{store: s, catalog: c, starter: starter, opts: o, log: log, kick: make(chan struct{}, 1)}
}

// Kick asks for a dispatch round now; it never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	batch := d.opts.Concurrency * 4
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := d.Round(ctx, batch)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("dispatch round failed", "error", err)
		}
		if n == batch && err == nil {
			continue // more may be waiting
		}
		timer.Reset(d.opts.Sweep)
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-timer.C:
		}
	}
}

// Round claims up to limit unstarted requests and starts their workflows.
// It returns how many rows it claimed.
func (d *Dispatcher) Round(ctx context.Context, limit int) (int, error) {
	rows, err := d.store.ClaimPending(ctx, limit, d.opts.Lease)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, d.opts.Concurrency)
		mu      sync.Mutex
		tripped error // once Temporal looks down, the rest of the round is not tried
	)
	for _, r := range rows {
		mu.Lock()
		down := tripped
		mu.Unlock()
		if down != nil {
			d.release(ctx, r, down)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.start(ctx, r); err != nil {
				mu.Lock()
				if tripped == nil {
					tripped = err
				}
				mu.Unlock()
				d.release(ctx, r, err)
			}
		}()
	}
	wg.Wait()
	if tripped != nil {
		return len(rows), fmt.Errorf("start workflows: %w", tripped)
	}
	return len(rows), nil
}

func (d *Dispatcher) start(ctx context.Context, r store.Request) error {
	in := Input(r, d.definition(r.APICode))
	sctx, cancel := context.WithTimeout(ctx, d.opts.StartTimeout)
	defer cancel()
	run, err := d.starter.ExecuteWorkflow(sctx, StartOptions(r, d.opts.TaskQueue), workflows.ProcessRequestName, in)
	if err != nil {
		return err
	}
	if err := d.store.MarkDispatched(ctx, r.ID, run.GetRunID()); err != nil {
		// The workflow runs; the row stays pending and a later round starts
		// it again, which Temporal answers with the same run.
		d.log.Warn("record dispatch", "request_id", r.ID, "error", err)
	}
	return nil
}

func (d *Dispatcher) release(ctx context.Context, r store.Request, cause error) {
	backoff := min(d.opts.MaxBackoff, time.Duration(1<<min(r.DispatchAttempts, 10))*100*time.Millisecond)
	if err := d.store.MarkDispatchFailed(ctx, r.ID, cause.Error(), backoff); err != nil && ctx.Err() == nil {
		d.log.Warn("release dispatch lease", "request_id", r.ID, "error", err)
	}
}

func (d *Dispatcher) definition(code string) catalog.Definition {
	if def, ok := d.catalog.ByCode(code); ok {
		return def
	}
	// Deleted since it was accepted: run with default settings; its items
	// fail with asyncgate.api_removed.
	return catalog.Definition{Code: code}.WithDefaults()
}

// Input is the workflow input of a request: the definition's batch
// settings are copied so later edits do not change a running request.
func Input(r store.Request, def catalog.Definition) workflows.ProcessRequestInput {
	def = def.WithDefaults()
	b := def.Batch
	chunk := 0
	if h := def.Handler.HTTP; def.Handler.Type == catalog.HandlerHTTP && h != nil && h.BatchSize > 1 {
		chunk = h.BatchSize
	}
	return workflows.ProcessRequestInput{
		ChunkSize: chunk,
		RequestID: r.ID, APICode: r.APICode, AppKey: r.AppKey, Total: r.Total,
		Concurrency: b.Concurrency, ItemTimeout: b.ItemTimeout.D(),
		Retry: workflows.RetryPolicy{
			MaxAttempts: b.Retry.MaxAttempts, InitialInterval: b.Retry.InitialInterval.D(),
			BackoffCoefficient: b.Retry.BackoffCoefficient, MaxInterval: b.Retry.MaxInterval.D(),
		},
	}
}

// StartOptions are the options a request's workflow is started with: the id
// derived from the request plus Temporal's id policies make a second start
// (two dispatchers, a retried round) return the existing run.
func StartOptions(r store.Request, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       r.WorkflowID,
		TaskQueue:                taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAPICode.ValueSet(r.APICode),
			workflows.SearchAppKey.ValueSet(r.AppKey),
			workflows.SearchStatus.ValueSet(string(store.StatusNew)),
		),
	}
}
