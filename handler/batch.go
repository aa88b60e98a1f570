package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/asyncgate/asyncgate/catalog"
)

// Outcome is one item's outcome in a batched call: a result, or a
// business error.
type Outcome struct {
	Result json.RawMessage
	Err    *BusinessError
}

// BatchHandler processes several items in one go.
type BatchHandler interface {
	HandleBatch(ctx context.Context, items []Item) ([]Outcome, error)
}

// HandleBatch forwards items in one call: body {"items":[…]}; a 2xx answer
// {"results":[…]} (or a bare array) has one element per item, in order,
// where an element carrying "sub_code" is that item's business error. A
// business status fails every item of the call with the answer's error;
// other failures (5xx, timeouts) are returned for the activity to retry.
// An answer of the wrong shape fails the items with asyncgate.invalid_output:
// resending it would not change it.
func (f *HTTPForward) HandleBatch(ctx context.Context, items []Item) ([]Outcome, error) {
	if len(items) == 0 {
		return nil, nil
	}
	timeout := f.Spec.Timeout.D()
	if timeout <= 0 {
		timeout = catalog.DefaultHTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body bytes.Buffer
	body.WriteString(`{"items":[`)
	for i, it := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(it.Request)
	}
	body.WriteString(`]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.Spec.URL, &body)
	if err != nil {
		return nil, Business("asyncgate.bad_forward_url", "the API's forward URL is invalid")
	}
	first := items[0]
	for k, v := range f.Spec.Headers {
		req.Header.Set(k, v)
	}
	for name, src := range f.Spec.HeaderMap {
		if v, ok := headerSource(first, src); ok && !strings.HasPrefix(src, "item.") {
			req.Header.Set(name, v) // item fields differ per item: not forwarded in a batch
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%d-%d-%d", first.RequestID, first.Index, items[len(items)-1].Index))
	req.Header.Set("X-Asyncgate-Request-Id", strconv.FormatInt(first.RequestID, 10))
	req.Header.Set("X-Asyncgate-Items", fmt.Sprintf("%d-%d", first.Index, items[len(items)-1].Index))
	req.Header.Set("X-Asyncgate-Attempt", strconv.Itoa(first.Attempt))

	status, data, err := f.send(ctx, req, timeout, maxResponseBytes*int64(len(items)))
	if err != nil {
		return nil, err
	}
	switch {
	case status >= 200 && status < 300:
		return batchOutcomes(data, len(items)), nil
	case f.isBusiness(status):
		be := businessFromBody(status, data)
		out := make([]Outcome, len(items))
		for i := range out {
			out[i].Err = be
		}
		return out, nil
	default:
		return nil, fmt.Errorf("forward %s: HTTP %d: %s", f.Spec.URL, status, snippet(data))
	}
}

func batchOutcomes(data []byte, n int) []Outcome {
	var results []json.RawMessage
	var wrapped struct {
		Results []json.RawMessage `json:"results"`
	}
	if json.Unmarshal(data, &results) != nil {
		if json.Unmarshal(data, &wrapped) == nil {
			results = wrapped.Results
		}
	}
	out := make([]Outcome, n)
	if len(results) != n {
		be := &BusinessError{Code: "asyncgate.invalid_output",
			Msg: fmt.Sprintf("the batch answer has %d results for %d items", len(results), n)}
		for i := range out {
			out[i].Err = be
		}
		return out
	}
	for i, r := range results {
		var e struct {
			SubCode string `json:"sub_code"`
			SubMsg  string `json:"sub_msg"`
		}
		if json.Unmarshal(r, &e) == nil && e.SubCode != "" {
			out[i].Err = &BusinessError{Code: e.SubCode, Msg: e.SubMsg}
			continue
		}
		out[i].Result = r
	}
	return out
}
