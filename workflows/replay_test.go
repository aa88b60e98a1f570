package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history recorded from real runs
// (scripts/export-history): a change to ProcessRequest that would break
// running workflows fails here (ProcessRequest and Notify runs). Use workflow.GetVersion for such changes.
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories: run scripts/export-history")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(ProcessRequest, workflow.RegisterOptions{Name: ProcessRequestName})
			r.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
