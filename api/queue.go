package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// queueType is one task type of the task queue as Temporal describes it.
type queueType struct {
	Pollers        int      `json:"pollers"`
	PollerIDs      []string `json:"poller_identities"`
	Backlog        int64    `json:"backlog"`
	BacklogAgeSec  float64  `json:"backlog_age_seconds"`
	AddRate        float32  `json:"tasks_add_rate"`
	DispatchRate   float32  `json:"tasks_dispatch_rate"`
	StatsAvailable bool     `json:"stats_available"`
}

// adminQueue is the queue monitor: the task queue's pollers, backlog and
// rates from Temporal, the intermediate table's backlog, and items
// finished per minute over the last 10 minutes.
func (s *Server) adminQueue(c *fiber.Ctx) error {
	ctx := c.UserContext()
	b, err := s.d.Store.ReadBacklog(ctx)
	if err != nil {
		return internal(err)
	}
	perMinute, err := s.d.Store.ItemsPerMinute(ctx, 10)
	if err != nil {
		return internal(err)
	}
	out := fiber.Map{
		"task_queue": s.d.TaskQueue,
		"requests": fiber.Map{"new": b.New, "doing": b.Doing, "dispatch_pending": b.DispatchPending,
			"oldest_unfinished_seconds": b.OldestUnfinished.Seconds()},
		"items_per_minute": perMinute,
	}
	if s.d.Temporal == nil {
		out["temporal_error"] = "not connected"
		return c.JSON(out)
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	types := fiber.Map{}
	for name, t := range map[string]enumspb.TaskQueueType{
		"workflow": enumspb.TASK_QUEUE_TYPE_WORKFLOW, "activity": enumspb.TASK_QUEUE_TYPE_ACTIVITY,
	} {
		resp, err := s.d.Temporal.WorkflowService().DescribeTaskQueue(tctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: s.d.Namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: s.d.TaskQueue}, TaskQueueType: t, ReportStats: true,
		})
		if err != nil {
			out["temporal_error"] = "describe task queue: " + err.Error()
			return c.JSON(out)
		}
		qt := queueType{Pollers: len(resp.GetPollers()), PollerIDs: []string{}}
		for _, p := range resp.GetPollers() {
			qt.PollerIDs = append(qt.PollerIDs, p.GetIdentity())
		}
		if st := resp.GetStats(); st != nil {
			qt.StatsAvailable = true
			qt.Backlog, qt.AddRate, qt.DispatchRate = st.GetApproximateBacklogCount(), st.GetTasksAddRate(), st.GetTasksDispatchRate()
			qt.BacklogAgeSec = st.GetApproximateBacklogAge().AsDuration().Seconds()
		}
		types[name] = qt
	}
	out["temporal"] = types
	return c.JSON(out)
}
