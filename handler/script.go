// Script handlers.
//
// A definition with handler type "script" carries JavaScript source
// (catalog.HandlerSpec.Script) run by an embedded ECMAScript engine (goja) in
// a sandbox, meant for small field mappings. The contract:
//
//   - The source defines a function handle(item, ctx) at its top level
//     (function declaration, var, let or const). The top level runs once per
//     item, in a fresh engine, before handle is called.
//   - item is the item's request (parsed JSON; null when empty). ctx is a
//     plain object {requestId, index, attempt, api, appKey, controls, header}:
//     requestId is the request id as a decimal string (it does not fit a JS
//     number), index the item's position from 0, attempt 1 on the first try,
//     api the API code, appKey the calling app, controls the definition's
//     parameter controls as {key: value} strings, header the body's other
//     top-level fields ({} when there are none).
//   - The returned value is the item's result, serialized as JSON.stringify
//     would (toJSON is honoured, undefined object fields are dropped, holes
//     and undefined array elements are null). An object is recommended;
//     returning undefined gives {}. A result holding a function, symbol,
//     BigInt, NaN or Infinity, a cycle, or nested more than 100 levels deep
//     fails with asyncgate.invalid_output; one whose JSON is over 1 MiB fails
//     with asyncgate.script_output_too_large.
//   - throw {code: "demo.x", message: "..."} — any thrown object with a
//     non-empty string code, Error objects included — fails the item with that
//     business error (final, never retried).
//   - Any other exception (TypeError, throw "x", a SyntaxError from eval,
//     exceeding the call stack of 1024 frames, a missing handle) fails the item
//     with asyncgate.script_error and the engine's message: retrying does not
//     fix a script bug.
//   - A call (top level, handle and serializing the result) may run for
//     Script.Timeout (DefaultScriptTimeout, 1 s), or until the caller's
//     context deadline when that is earlier; it is then interrupted and fails
//     with asyncgate.script_timeout. When the caller's context is canceled the
//     script is interrupted too and Handle returns the context's error (not a
//     business error), so the attempt is retried.
//   - Sandbox: nothing but the ECMAScript built-ins (eval and Function
//     included; they compile inside the sandbox) plus a console whose methods
//     do nothing. No require, no process, no timers, no Go objects: item and
//     ctx are plain values built from JSON. The source is limited to 64 KiB.
//     Memory is not metered: a script may allocate freely within its time
//     limit.
//
// Compiled programs are cached by source hash. CompileScript checks a
// script before it is saved in a definition.
package handler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
)

// Script limits.
const (
	DefaultScriptTimeout = time.Second // per item
	MaxScriptSource      = 64 << 10    // bytes of source
	MaxScriptOutput      = 1 << 20     // bytes of result JSON

	scriptMaxCallStack = 1024                   // JS frames
	scriptMaxDepth     = 100                    // nesting of the result
	scriptMaxMsg       = 1000                   // runes of an error message
	scriptGrace        = 500 * time.Millisecond // for an interrupted script to stop
	scriptCacheSize    = 256                    // compiled programs kept
	scriptFile         = "script.js"            // name in error positions
)

// Business error codes of script handlers.
const (
	CodeScriptError          = "asyncgate.script_error"
	CodeScriptTimeout        = "asyncgate.script_timeout"
	CodeScriptOutputTooLarge = "asyncgate.script_output_too_large"
	CodeInvalidOutput        = "asyncgate.invalid_output"
)

// Script runs a definition's JavaScript handle(item, ctx) function for each
// item. It is safe for concurrent use: every call gets its own engine.
type Script struct {
	// Timeout bounds one call; zero means DefaultScriptTimeout.
	Timeout time.Duration

	prg *goja.Program
}

// NewScript compiles src (or takes it from the cache) and checks that its
// top level declares handle. It does not run it: CompileScript does.
func NewScript(src string) (*Script, error) {
	prg, err := compileScript(src)
	if err != nil {
		return nil, err
	}
	return &Script{prg: prg}, nil
}

// CompileScript reports why src cannot be used as a script handler: too
// large, a syntax error (with line:column), no top-level declaration of
// handle, or — running the top level once in a sandbox — a top level that
// throws or does not finish within DefaultScriptTimeout, or a handle that is
// not a function.
func CompileScript(src string) error {
	s, err := NewScript(src)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultScriptTimeout)
	defer cancel()
	_, err = s.sandboxed(ctx, func(sb *sandbox) (json.RawMessage, error) {
		_, err := sb.load(s.prg)
		return nil, err
	})
	if be, ok := AsBusiness(err); ok {
		if be.Code == CodeScriptError {
			return errors.New(be.Msg)
		}
		return errors.New(be.Error())
	}
	return err
}

// Handle runs handle(item, ctx) for it.
func (s *Script) Handle(ctx context.Context, it Item) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	item := []byte(it.Request)
	if len(item) == 0 {
		item = []byte("null")
	}
	if !json.Valid(item) {
		return nil, Business(CodeScriptError, "the item is not valid JSON")
	}
	header := it.Header
	if len(header) == 0 || !json.Valid(header) {
		header = json.RawMessage(`{}`)
	}
	controls := it.Controls
	if controls == nil {
		controls = map[string]string{}
	}
	jsCtx, err := json.Marshal(struct {
		RequestID string            `json:"requestId"`
		Index     int               `json:"index"`
		Attempt   int               `json:"attempt"`
		API       string            `json:"api"`
		AppKey    string            `json:"appKey"`
		Controls  map[string]string `json:"controls"`
		Header    json.RawMessage   `json:"header"`
	}{strconv.FormatInt(it.RequestID, 10), it.Index, it.Attempt, it.APICode, it.AppKey, controls, header})
	if err != nil {
		return nil, fmt.Errorf("script context: %w", err)
	}
	return s.sandboxed(ctx, func(sb *sandbox) (json.RawMessage, error) {
		return sb.call(s.prg, string(item), string(jsCtx))
	})
}

func (s *Script) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultScriptTimeout
}

// sandboxed runs f with a fresh sandbox on its own goroutine, interrupting
// the engine when the time limit or ctx expires. A script stuck in a
// built-in (which an interrupt cannot stop, e.g. a backtracking regular
// expression) is abandoned scriptGrace after the interrupt; its goroutine
// ends when the built-in returns.
func (s *Script) sandboxed(ctx context.Context, f func(*sandbox) (json.RawMessage, error)) (json.RawMessage, error) {
	limit := s.timeout()
	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	sb, err := newSandbox()
	if err != nil {
		return nil, err
	}
	sb.done = runCtx.Done()
	stop := context.AfterFunc(runCtx, func() { sb.vm.Interrupt(errScriptInterrupted) })
	defer stop()

	type outcome struct {
		res json.RawMessage
		err error
	}
	done := make(chan outcome, 1) // buffered: an abandoned run must not block
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				o = outcome{err: scriptPanic(p)}
			}
			done <- o
		}()
		o.res, o.err = f(sb)
	}()

	var o outcome
	select {
	case o = <-done:
	case <-runCtx.Done():
		grace := time.NewTimer(scriptGrace)
		select {
		case o = <-done:
		case <-grace.C:
			o.err = errScriptInterrupted
		}
		grace.Stop()
	}
	if errors.Is(o.err, errScriptInterrupted) {
		return nil, interruption(ctx, limit)
	}
	return o.res, o.err
}

// errScriptInterrupted is the reason given to goja's Interrupt.
var errScriptInterrupted = errors.New("script interrupted")

// interruption explains why a script was stopped: the caller canceled
// (transient: the error of ctx), else a time limit (business error).
func interruption(ctx context.Context, limit time.Duration) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("script interrupted: %w", context.Cause(ctx))
	case err != nil:
		return Business(CodeScriptTimeout, "the script did not finish before the item's deadline")
	default:
		return Business(CodeScriptTimeout, fmt.Sprintf("the script ran longer than %s", limit))
	}
}

func scriptPanic(p any) error {
	if err, ok := p.(error); ok {
		var ie *goja.InterruptedError
		if errors.As(err, &ie) || errors.Is(err, errScriptInterrupted) {
			return errScriptInterrupted
		}
	}
	return Business(CodeScriptError, clip(fmt.Sprintf("script engine failure: %v", p)))
}

// sandbox is one fresh engine with the prelude's helpers.
type sandbox struct {
	vm    *goja.Runtime
	parse goja.Callable   // the pristine JSON.parse
	done  <-chan struct{} // closed when the run must stop
}

func newSandbox() (sb *sandbox, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("script sandbox: %v\n%s", p, debug.Stack())
		}
	}()
	vm := goja.New()
	vm.SetMaxCallStackSize(scriptMaxCallStack)
	v, err := vm.RunProgram(preludePrg)
	if err != nil {
		return nil, fmt.Errorf("script prelude: %w", err)
	}
	parse, ok := goja.AssertFunction(v)
	if !ok {
		return nil, errors.New("script prelude: JSON.parse missing")
	}
	return &sandbox{vm: vm, parse: parse}, nil
}

// load runs prg's top level and returns its handle function.
func (sb *sandbox) load(prg *goja.Program) (goja.Callable, error) {
	if _, err := sb.vm.RunProgram(prg); err != nil {
		return nil, sb.failure("the script's top level failed: ", err)
	}
	v, err := sb.vm.RunProgram(lookupHandlePrg)
	if err != nil {
		return nil, sb.failure("", err)
	}
	handle, ok := goja.AssertFunction(v)
	if !ok {
		return nil, Business(CodeScriptError, "the script does not define function handle(item, ctx)")
	}
	return handle, nil
}

// call runs handle(item, ctx) on the JSON texts and serializes the result.
func (sb *sandbox) call(prg *goja.Program, item, ctx string) (json.RawMessage, error) {
	itemV, err := sb.parse(goja.Undefined(), sb.vm.ToValue(item))
	if err != nil {
		return nil, Business(CodeScriptError, clip("the item cannot be parsed: "+err.Error()))
	}
	ctxV, err := sb.parse(goja.Undefined(), sb.vm.ToValue(ctx))
	if err != nil {
		return nil, fmt.Errorf("script context: %w", err)
	}
	handle, err := sb.load(prg)
	if err != nil {
		return nil, err
	}
	res, err := handle(goja.Undefined(), itemV, ctxV)
	if err != nil {
		return nil, sb.failure("", err)
	}
	if goja.IsUndefined(res) {
		return json.RawMessage(`{}`), nil
	}
	return sb.serialize(res)
}

func isInterrupt(err error) bool {
	var ie *goja.InterruptedError
	return errors.As(err, &ie)
}

// failure turns an error of the engine into the handler's error: an
// interrupt, a business error thrown by the script ({code, message}) or
// asyncgate.script_error.
func (sb *sandbox) failure(prefix string, err error) error {
	var so *goja.StackOverflowError
	var ex *goja.Exception
	switch {
	case isInterrupt(err):
		return errScriptInterrupted
	case errors.As(err, &so):
		return Business(CodeScriptError, clip(prefix+"maximum call stack size exceeded"+so.Error()))
	case errors.As(err, &ex):
		if obj, ok := ex.Value().(*goja.Object); ok {
			// Reading code may run a getter; a panic there is recovered by
			// sandboxed, an interrupt included.
			if code, ok := exportString(obj.Get("code")); ok && code != "" {
				msg, _ := exportString(obj.Get("message"))
				return Business(clip(code), clip(msg))
			}
		}
		return Business(CodeScriptError, clip(prefix+ex.Error()))
	default:
		return Business(CodeScriptError, clip(prefix+err.Error()))
	}
}

func exportString(v goja.Value) (string, bool) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", false
	}
	s, ok := v.Export().(string)
	return s, ok
}

// clip shortens a message to scriptMaxMsg runes.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= scriptMaxMsg {
		return s
	}
	r := []rune(s)
	return string(r[:scriptMaxMsg]) + "…"
}

// preludeSrc runs in every sandbox before the script: it installs a no-op
// console and returns JSON.parse as it is before the script could redefine it.
const preludeSrc = `(function (global) {
	"use strict";
	var noop = function () {};
	global.console = {log: noop, info: noop, warn: noop, error: noop, debug: noop, trace: noop};
	return JSON.parse;
})(this)`

var (
	preludePrg      = goja.MustCompile("prelude.js", preludeSrc, true)
	lookupHandlePrg = goja.MustCompile("lookup.js", `typeof handle === "function" ? handle : undefined`, false)
)

// scriptCache keeps compiled programs by source hash, at most
// scriptCacheSize of them, dropping the oldest first.
var scriptCache = struct {
	sync.Mutex
	progs map[[sha256.Size]byte]*goja.Program
	order [][sha256.Size]byte
}{progs: map[[sha256.Size]byte]*goja.Program{}}

func compileScript(src string) (*goja.Program, error) {
	if len(src) > MaxScriptSource {
		return nil, fmt.Errorf("the script is %d bytes, more than %d", len(src), MaxScriptSource)
	}
	key := sha256.Sum256([]byte(src))
	scriptCache.Lock()
	prg, ok := scriptCache.progs[key]
	scriptCache.Unlock()
	if ok {
		return prg, nil
	}
	prg, err := compileSafely(src)
	if err != nil {
		return nil, err
	}
	scriptCache.Lock()
	defer scriptCache.Unlock()
	if _, ok := scriptCache.progs[key]; !ok {
		if len(scriptCache.order) >= scriptCacheSize {
			delete(scriptCache.progs, scriptCache.order[0])
			scriptCache.order = scriptCache.order[1:]
		}
		scriptCache.progs[key] = prg
		scriptCache.order = append(scriptCache.order, key)
	}
	return prg, nil
}

func compileSafely(src string) (prg *goja.Program, err error) {
	defer func() {
		if p := recover(); p != nil {
			prg, err = nil, fmt.Errorf("the script cannot be compiled: %v", p)
		}
	}()
	tree, err := goja.Parse(scriptFile, src)
	if err != nil {
		return nil, fmt.Errorf("the script does not compile: %w", err)
	}
	if !declaresHandle(tree) {
		return nil, errors.New("the script does not declare function handle(item, ctx) at its top level")
	}
	prg, err = goja.CompileAST(tree, false)
	if err != nil {
		return nil, fmt.Errorf("the script does not compile: %w", err)
	}
	return prg, nil
}

// declaresHandle reports whether the script's top level declares handle:
// function handle(…), or var, let or const handle = ….
func declaresHandle(tree *ast.Program) bool {
	named := func(list []*ast.Binding) bool {
		for _, b := range list {
			if id, ok := b.Target.(*ast.Identifier); ok && id.Name == "handle" {
				return true
			}
		}
		return false
	}
	for _, st := range tree.Body {
		switch st := st.(type) {
		case *ast.FunctionDeclaration:
			if st.Function != nil && st.Function.Name != nil && st.Function.Name.Name == "handle" {
				return true
			}
		case *ast.VariableStatement:
			if named(st.List) {
				return true
			}
		case *ast.LexicalDeclaration:
			if named(st.List) {
				return true
			}
		}
	}
	return false
}

// serialize writes the script's result as JSON the way JSON.stringify
// does (toJSON, wrapper objects, own enumerable keys, undefined fields
// dropped), but fails on what JSON cannot hold instead of dropping it or
// writing null, and stops at scriptMaxDepth levels and MaxScriptOutput
// bytes, so a result cannot blow up the worker's stack or memory.
func (sb *sandbox) serialize(res goja.Value) (json.RawMessage, error) {
	w := &jsonWriter{vm: sb.vm, done: sb.done, onPath: map[*goja.Object]struct{}{}}
	var err error
	if ex := sb.vm.Try(func() { _, err = w.value("", res, 0) }); ex != nil {
		err = Business(CodeInvalidOutput, clip("the script's result cannot be serialized: "+ex.Error()))
	}
	if err != nil {
		return nil, err
	}
	if w.buf.Len() == 0 { // toJSON returned undefined
		return json.RawMessage(`{}`), nil
	}
	return json.RawMessage(w.buf.Bytes()), nil
}

type jsonWriter struct {
	vm     *goja.Runtime
	done   <-chan struct{} // the time limit: Go code is not interrupted by goja
	count  int             // values written, to look at done now and then
	buf    bytes.Buffer
	path   []string // keys and [indexes] leading to the value being written
	onPath map[*goja.Object]struct{}
}

func (w *jsonWriter) fail(code, format string, args ...any) error {
	return Business(code, clip(fmt.Sprintf(format, args...)+" at $"+strings.Join(w.path, "")))
}

func (w *jsonWriter) invalid(what string) error {
	return w.fail(CodeInvalidOutput, "the script's result contains %s", what)
}

func (w *jsonWriter) spend(n int) error {
	if w.buf.Len()+n > MaxScriptOutput {
		return w.fail(CodeScriptOutputTooLarge, "the script's result is more than %d bytes of JSON", MaxScriptOutput)
	}
	return nil
}

// value writes v, the property key of its holder; written is false (and
// nothing is written) for undefined.
func (w *jsonWriter) value(key string, v goja.Value, depth int) (written bool, err error) {
	if w.count++; w.count%256 == 0 {
		select {
		case <-w.done:
			return false, errScriptInterrupted
		default:
		}
	}
	if obj, ok := v.(*goja.Object); ok {
		if toJSON, ok := goja.AssertFunction(obj.Get("toJSON")); ok {
			if v, err = toJSON(obj, w.vm.ToValue(key)); err != nil {
				if isInterrupt(err) {
					return false, errScriptInterrupted
				}
				return false, w.fail(CodeInvalidOutput, "the script's result cannot be serialized: toJSON failed: %v", err)
			}
		}
	}
	if obj, ok := v.(*goja.Object); ok {
		switch obj.ClassName() { // wrapper objects: new Number(1), new String("s"), new Boolean(true)
		case "Number":
			v = obj.ToNumber()
		case "String":
			v = w.vm.ToValue(obj.String())
		case "Boolean":
			v = w.vm.ToValue(obj.ToBoolean() && obj.Export() == true)
		}
	}
	if v == nil || goja.IsUndefined(v) {
		return false, nil
	}
	if goja.IsNull(v) {
		return true, w.raw("null")
	}
	switch v := v.(type) {
	case *goja.Symbol:
		return false, w.invalid("a symbol")
	case *goja.Object:
		return true, w.object(v, depth)
	}
	switch x := v.Export().(type) {
	case bool:
		return true, w.raw(strconv.FormatBool(x))
	case string:
		if err := w.spend(len(x) + 2); err != nil {
			return false, err
		}
		writeJSONString(&w.buf, x)
		return true, nil
	case int64:
		return true, w.raw(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false, w.invalid(v.String())
		}
		return true, w.raw(v.String()) // JavaScript's number formatting
	case *big.Int:
		return false, w.invalid("a BigInt")
	default:
		return false, w.invalid(fmt.Sprintf("a value of type %T", x))
	}
}

func (w *jsonWriter) raw(s string) error {
	if err := w.spend(len(s)); err != nil {
		return err
	}
	w.buf.WriteString(s)
	return nil
}

func (w *jsonWriter) object(obj *goja.Object, depth int) error {
	if _, ok := goja.AssertFunction(obj); ok {
		return w.invalid("a function")
	}
	if depth >= scriptMaxDepth {
		return w.invalid(fmt.Sprintf("objects nested more than %d levels deep", scriptMaxDepth))
	}
	if _, ok := w.onPath[obj]; ok {
		return w.invalid("a cycle")
	}
	w.onPath[obj] = struct{}{}
	defer delete(w.onPath, obj)
	at := len(w.path)
	defer func() { w.path = w.path[:at] }()

	if obj.ClassName() == "Array" {
		if err := w.raw("["); err != nil {
			return err
		}
		n := obj.Get("length").ToInteger()
		for i := int64(0); i < n; i++ {
			if i > 0 {
				if err := w.raw(","); err != nil {
					return err
				}
			}
			idx := strconv.FormatInt(i, 10)
			w.path = append(w.path[:at], "["+idx+"]")
			written, err := w.value(idx, obj.Get(idx), depth+1)
			if err != nil {
				return err
			}
			if !written {
				if err := w.raw("null"); err != nil {
					return err
				}
			}
		}
		return w.raw("]")
	}

	if err := w.raw("{"); err != nil {
		return err
	}
	first := true
	for _, k := range obj.Keys() {
		mark := w.buf.Len()
		if !first {
			w.buf.WriteByte(',')
		}
		if err := w.spend(len(k) + 3); err != nil {
			return err
		}
		writeJSONString(&w.buf, k)
		w.buf.WriteByte(':')
		w.path = append(w.path[:at], "."+k)
		written, err := w.value(k, obj.Get(k), depth+1)
		if err != nil {
			return err
		}
		if written {
			first = false
		} else {
			w.buf.Truncate(mark) // undefined: the key is left out
		}
	}
	return w.raw("}")
}

// writeJSONString writes s as a JSON string, escaping only what JSON
// requires (like JSON.stringify, unlike encoding/json's HTML escaping).
func writeJSONString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf.WriteString(s[start:i])
		switch c {
		case '"', '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}
