package catalog

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaskValue hides part of s by a return parameter's mask rule, keeping
// what identifies the value to its owner:
//
//	phone      13812345678        → 138****5678
//	id_card    110101199003071234 → 110101********1234
//	bank_card  6222020012345678   → ************5678
//	email      alice@example.com  → a****@example.com
//	name       张三丰              → 张**
//	keep_first:N / keep_last:N    → the first / last N characters, the rest *
//
// Short values show at most a third at each end. Unknown rules mask
// everything: a typo must not leak data.
func MaskValue(rule, s string) string {
	r := []rune(s)
	n := len(r)
	switch rule {
	case "phone":
		return keep(r, 3, 4)
	case "id_card":
		return keep(r, 6, 4)
	case "bank_card":
		return keep(r, 0, 4)
	case "name":
		return keep(r, 1, 0)
	case "email":
		at := strings.LastIndexByte(s, '@')
		if at <= 0 {
			return keep(r, 0, 0)
		}
		local := []rune(s[:at])
		return string(local[0]) + strings.Repeat("*", max(len(local)-1, 4)) + s[at:]
	}
	if v, ok := strings.CutPrefix(rule, "keep_first:"); ok {
		if k, err := strconv.Atoi(v); err == nil {
			return keep(r, min(k, n), 0)
		}
	}
	if v, ok := strings.CutPrefix(rule, "keep_last:"); ok {
		if k, err := strconv.Atoi(v); err == nil {
			return keep(r, 0, min(k, n))
		}
	}
	return keep(r, 0, 0)
}

// keep shows the first and last runes and stars the middle; for a value
// too short for that, it shows at most a third at each end.
func keep(r []rune, first, last int) string {
	n := len(r)
	if first+last >= n {
		first, last = min(first, n/3), min(last, n/3)
	}
	return string(r[:first]) + strings.Repeat("*", n-first-last) + string(r[n-last:])
}

// MaskResult applies the definition's return-parameter masks to an item's
// result (or an item's request, echoed in answers) when masking is on. Parameter names are field paths into the
// result object ("phone", "trade.buyer_phone"); arrays on the way are
// masked element by element. Key order and every other field are kept.
func (d Definition) MaskResult(raw []byte) []byte {
	if !d.Options.Masking || len(raw) == 0 {
		return raw
	}
	var rules []ReturnParam
	for _, p := range d.ReturnParams {
		if p.Mask != "" {
			rules = append(rules, p)
		}
	}
	if len(rules) == 0 {
		return raw
	}
	root, perr := parseJSON(raw)
	if perr != nil {
		return raw
	}
	for _, p := range rules {
		maskPath(root, strings.Split(p.Name, "."), p.Mask)
	}
	return root.appendJSON(nil)
}

// MaskRequest applies the same rules to a call body for the call log: a
// field of an item named like a masked return parameter (the customer's
// phone sent in, the phone answered back) is masked there too, so the log
// never holds it whole. Non-JSON bodies are returned as they are.
func (d Definition) MaskRequest(body []byte) []byte {
	if !d.Options.Masking || len(body) == 0 {
		return body
	}
	root, perr := parseJSON(body)
	if perr != nil {
		return body
	}
	var prefix []string
	if d.Batch.ItemsPath != "" {
		prefix = strings.Split(d.Batch.ItemsPath, ".")
	}
	masked := false
	for _, p := range d.ReturnParams {
		if p.Mask != "" {
			maskPath(root, append(slices.Clone(prefix), strings.Split(p.Name, ".")...), p.Mask)
			masked = true
		}
	}
	if !masked {
		return body
	}
	return root.appendJSON(nil)
}

// MaskParams masks query or form parameters named like masked return
// parameters (GET calls, TOP calls) for the call log.
func (d Definition) MaskParams(params map[string]string) {
	if !d.Options.Masking {
		return
	}
	for _, p := range d.ReturnParams {
		if v, ok := params[p.Name]; ok && p.Mask != "" {
			params[p.Name] = MaskValue(p.Mask, v)
		}
	}
}

func maskPath(v *value, path []string, rule string) {
	switch v.kind {
	case kindArray:
		for _, e := range v.arr {
			maskPath(e, path, rule)
		}
	case kindObject:
		i := v.index(path[0])
		if i < 0 {
			return
		}
		if len(path) > 1 {
			maskPath(v.vals[i], path[1:], rule)
			return
		}
		maskLeaf(v.vals[i], rule)
	}
}

// maskLeaf masks a string or number in place (a number becomes a string:
// "138****5678" is not a number); arrays of them element by element.
func maskLeaf(v *value, rule string) {
	switch v.kind {
	case kindString, kindNumber:
		if v.kind == kindString && !utf8.ValidString(v.s) {
			v.s = ""
		}
		v.kind, v.s = kindString, MaskValue(rule, v.s)
	case kindArray:
		for _, e := range v.arr {
			maskLeaf(e, rule)
		}
	}
}
