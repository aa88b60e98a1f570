// Package handler processes one item of an async request: built-in Go
// functions registered in the worker, HTTP forwards to synchronous APIs
// (per item or batched), and sandboxed JavaScript scripts. Handlers return a JSON result, a *BusinessError (final,
// shown per item) or any other error (transient, retried by Temporal).
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Item is what a handler sees of one subtask.
type Item struct {
	RequestID int64             // the openApiReqId
	Index     int               // position in the batch, from 0
	APICode   string            // catalog code
	AppKey    string            // calling app
	Attempt   int               // 1 on the first try
	Request   json.RawMessage   // the item, defaults filled in
	Header    json.RawMessage   // the body's other top-level fields (a JSON object), may be empty
	Controls  map[string]string // the definition's parameter controls
}

// IdempotencyKey identifies the item across retries, for downstream dedup.
func (it Item) IdempotencyKey() string { return fmt.Sprintf("%d-%d", it.RequestID, it.Index) }

// Handler processes one item.
type Handler interface {
	Handle(ctx context.Context, it Item) (json.RawMessage, error)
}

// Func adapts a function to Handler.
type Func func(ctx context.Context, it Item) (json.RawMessage, error)

func (f Func) Handle(ctx context.Context, it Item) (json.RawMessage, error) { return f(ctx, it) }

// BusinessError is a final, per-item failure (TOP's sub_code/sub_msg). It is
// never retried.
type BusinessError struct {
	Code string // sub_code, e.g. demo.negative_amount
	Msg  string // sub_msg
}

func (e *BusinessError) Error() string { return e.Code + ": " + e.Msg }

// Business returns a *BusinessError.
func Business(code, msg string) error { return &BusinessError{Code: code, Msg: msg} }

// AsBusiness reports whether err is a business error and returns it.
func AsBusiness(err error) (*BusinessError, bool) {
	var be *BusinessError
	if errors.As(err, &be) {
		return be, true
	}
	return nil, false
}
