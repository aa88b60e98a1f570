package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Missing reports whether the error is an absent required field (TOP
// answers those with a different code than malformed ones).
func (e *FieldError) Missing() bool { return e.Reason == "is required" }

// ParseTop validates the business parameters of a TOP call (system
// parameters already removed) and splits them into items along the
// definition's TopLists: item i gets the i-th value of every list, under
// the list's field, plus every other parameter. Values are coerced like
// query parameters. Errors name the TOP parameter: "tids", "tids[3]".
func (d Definition) ParseTop(params map[string]string) (ParsedRequest, error) {
	shared := make(map[string]string, len(params))
	for k, v := range params {
		shared[k] = v
	}
	lists := make([][]string, len(d.TopLists))
	n := 1
	for i, l := range d.TopLists {
		raw, ok := shared[l.Param]
		delete(shared, l.Param)
		if !ok || strings.TrimSpace(raw) == "" {
			return ParsedRequest{}, &FieldError{Field: l.Param, Reason: "is required"}
		}
		vals := strings.Split(raw, ",")
		for j := range vals {
			vals[j] = strings.TrimSpace(vals[j])
			if vals[j] == "" {
				return ParsedRequest{}, &FieldError{Field: fmt.Sprintf("%s[%d]", l.Param, j), Reason: "is empty"}
			}
		}
		if i == 0 {
			n = len(vals)
			if maxItems := d.maxItems(); n > maxItems {
				return ParsedRequest{}, &FieldError{Field: l.Param,
					Reason: fmt.Sprintf("must have at most %d values (got %d)", maxItems, n)}
			}
		} else if len(vals) != n {
			return ParsedRequest{}, &FieldError{Field: l.Param, Reason: fmt.Sprintf(
				"must have as many values as %s (%d, got %d)", d.TopLists[0].Param, n, len(vals))}
		}
		lists[i] = vals
	}
	for _, l := range d.TopLists {
		if _, clash := shared[l.Field]; clash {
			return ParsedRequest{}, &FieldError{Field: l.Field, Reason: "is set from " + l.Param + "; do not send it"}
		}
	}

	items := make([]json.RawMessage, n)
	item := make(map[string]string, len(shared)+len(d.TopLists))
	for j := range n {
		clear(item)
		for k, v := range shared {
			item[k] = v
		}
		for i, l := range d.TopLists {
			item[l.Field] = lists[i][j]
		}
		pr, err := d.ParseQuery(item)
		if err != nil {
			if fe, ok := err.(*FieldError); ok {
				for _, l := range d.TopLists {
					if fe.Field == l.Field {
						return ParsedRequest{}, &FieldError{Field: fmt.Sprintf("%s[%d]", l.Param, j), Reason: fe.Reason}
					}
				}
			}
			return ParsedRequest{}, err
		}
		items[j] = pr.Items[0]
	}
	return ParsedRequest{Header: sharedJSON(shared), Items: items}, nil
}

func (d Definition) maxItems() int {
	if d.Batch.MaxItems > 0 {
		return d.Batch.MaxItems
	}
	return DefaultMaxItems
}

// sharedJSON is the non-list parameters as a JSON object, keys sorted.
func sharedJSON(m map[string]string) json.RawMessage {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}
