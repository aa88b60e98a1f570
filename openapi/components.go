package openapi

// baseSchemas are the shared schemas: the envelope and the data of the
// gateway's own answers (api.Envelope, receipt(), StatusData, ResultData,
// ResultItem, getToken). Receipt, StatusData and ResultData are closed
// (additionalProperties: false) so that the oneOf unions of an operation's
// answers are disjoint.
func baseSchemas() map[string]*schema {
	str := func(desc string) *schema { return &schema{Type: "string", Description: desc} }
	count := func(desc string) *schema { return &schema{Type: "integer", Minimum: int64p(0), Description: desc} }
	reqID := &schema{Type: "string", Pattern: reqIDPattern, Description: "The request's id: 19 digits, as a string.",
		Examples: []any{"1893456789012345678"}}
	reqStatus := &schema{Type: "string", Enum: []any{"new", "doing", "done", "canceled"},
		Description: "new: accepted, not started; doing: running; done: every item finished; canceled."}
	closed := boolp(false)
	return map[string]*schema{
		"Envelope": {
			Type:        "object",
			Description: "The answer of every /kapi call.",
			Required:    []string{"data", "errorCode", "message", "status"},
			Properties: map[string]*schema{
				"data":      {Description: "The answer's payload; null on most errors."},
				"errorCode": str(`"0" on success, else the HTTP status as text ("400", "404", …).`),
				"message":   str("Human-readable; on errors it names the offending field."),
				"status":    {Type: "boolean", Description: "true on success."},
			},
		},
		"Error": {
			Description: "An error answer.",
			AllOf: []*schema{ref("Envelope"), {Properties: map[string]*schema{
				"status":    {Const: false},
				"errorCode": {Type: "string", Pattern: "^[1-9][0-9]{2}$", Examples: []any{"400"}},
				"data":      {Description: "null, or details (a 409 duplicate names the original openApiReqId)."},
			}}},
		},
		"Receipt": {
			Type:                 "object",
			Description:          "The answer of a submit.",
			Required:             []string{"openApiReqId", "status"},
			AdditionalProperties: closed,
			Properties: map[string]*schema{
				"openApiReqId": reqID,
				"status":       {Type: "string", Const: "new"},
			},
		},
		"StatusData": {
			Type:                 "object",
			Description:          "The answer of checkStatus and cancel: the request's progress.",
			Required:             []string{"openApiReqId", "status", "total", "finished", "succeeded", "failed", "canceled", "percent", "source"},
			AdditionalProperties: closed,
			Properties: map[string]*schema{
				"openApiReqId": reqID,
				"status":       reqStatus,
				"total":        count("Items in the request."),
				"finished":     count("succeeded + failed + canceled."),
				"succeeded":    count(""),
				"failed":       count(""),
				"canceled":     count(""),
				"percent":      {Type: "integer", Minimum: int64p(0), Maximum: int64p(100), Description: "finished × 100 / total, rounded down."},
				"source":       {Type: "string", Enum: []any{"workflow", "table"}, Description: "Where the numbers come from: the running workflow or the table."},
			},
		},
		"ResultData": {
			Type: "object",
			Description: "The answer of queryResult: only openApiReqId and status while the request is unfinished; " +
				"once finished the summary and one page of items. Zero counts are left out.",
			Required:             []string{"openApiReqId", "status"},
			AdditionalProperties: closed,
			Properties: map[string]*schema{
				"openApiReqId": reqID,
				"status":       reqStatus,
				"api":          str("The API code."),
				"total":        count("Items in the request."),
				"succeeded":    count(""),
				"failed":       count(""),
				"canceled":     count(""),
				"createdTime":  {Type: "string", Format: "date-time"},
				"finishedTime": {Type: "string", Format: "date-time"},
				"pageNo":       {Type: "integer", Minimum: int64p(1)},
				"pageSize":     {Type: "integer", Minimum: int64p(1), Maximum: int64p(1000)},
				"totalPages":   count(""),
				"items":        {Type: "array", Items: ref("ResultItem")},
			},
		},
		"ResultItem": {
			Type:        "object",
			Description: "One item's outcome.",
			Required:    []string{"index", "request", "success", "status", "attempts"},
			Properties: map[string]*schema{
				"index":    count("The item's position in the request, from 0."),
				"request":  {Type: "object", Description: "The item as accepted, defaults filled in."},
				"success":  {Type: "boolean"},
				"status":   {Type: "string", Enum: []any{"pending", "succeeded", "failed", "canceled"}},
				"attempts": count("Handler attempts made."),
				"result":   {Description: "The handler's result; absent when there is none."},
				"sub_code": str("The business error code of a failed item."),
				"sub_msg":  str("The business error message of a failed item."),
			},
		},
		"TokenRequest": {
			Type:     "object",
			Required: []string{"client_id", "client_secret"},
			Properties: map[string]*schema{
				"client_id":     str("The app key."),
				"client_secret": str("The app secret."),
			},
		},
		"TokenData": {
			Type:     "object",
			Required: []string{"access_token", "token_type", "expires_in"},
			Properties: map[string]*schema{
				"access_token": str("Send it in the access_token header."),
				"token_type":   {Type: "string", Const: "Bearer"},
				"expires_in":   count("Seconds until the token expires."),
				"expires_at":   {Type: "string", Format: "date-time"},
			},
		},
	}
}
