// Package workflows holds asyncgate's Temporal workflows: deterministic
// orchestration only; every side effect is an activity.
package workflows

import (
	"strconv"

	"github.com/asyncgate/asyncgate/activities"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// DefaultTaskQueue is the task queue workers poll unless configured otherwise.
const DefaultTaskQueue = "asyncgate"

// Workflow, query and error-type names. They are part of recorded histories:
// renaming one breaks running workflows.
const (
	ProcessRequestName = "ProcessRequest"
	NotifyName         = "Notify"
	ProgressQuery      = "progress"
	// BusinessErrorType marks a final, per-item failure (sub_code/sub_msg).
	BusinessErrorType = activities.BusinessErrorType
)

// RequestWorkflowID is the workflow id of a request: Temporal's id-reuse
// policy then rejects a second start of the same request.
func RequestWorkflowID(requestID int64) string {
	return "asyncgate-request-" + strconv.FormatInt(requestID, 10)
}

// NotifyWorkflowID is the workflow id of a request's callback delivery: one
// delivery runs at a time; a redelivery reuses the id once the last closed.
func NotifyWorkflowID(requestID int64) string {
	return "asyncgate-notify-" + strconv.FormatInt(requestID, 10)
}

// Custom search attributes: operators filter runs by them in the Temporal UI.
var (
	SearchAPICode = temporal.NewSearchAttributeKeyKeyword("AsyncgateApiCode")
	SearchAppKey  = temporal.NewSearchAttributeKeyKeyword("AsyncgateAppKey")
	SearchStatus  = temporal.NewSearchAttributeKeyKeyword("AsyncgateStatus")
)

// SearchAttributes lists the custom search attributes to register on a namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchAPICode.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAppKey.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchStatus.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
