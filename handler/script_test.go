package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncgate/asyncgate/catalog"
)

// testItem is the item the script tests run unless they say otherwise.
func testItem() Item {
	return Item{
		RequestID: 1234567890123456789, Index: 3, APICode: "demo.order.save", AppKey: "app-1", Attempt: 2,
		Request:  json.RawMessage(`{"code":"ab-1","qty":3,"price":2.5,"lines":[{"n":"x"},{"n":"y"}]}`),
		Header:   json.RawMessage(`{"tenant":"t-9"}`),
		Controls: map[string]string{"rate": "2", "prefix": "SO-"},
	}
}

// runScript compiles src (which must compile) and runs it on it.
func runScript(t *testing.T, ctx context.Context, src string, it Item) (json.RawMessage, error) {
	t.Helper()
	s, err := NewScript(src)
	require.NoError(t, err)
	return s.Handle(ctx, it)
}

// requireBusiness asserts err is a business error with code and a message
// containing msg.
func requireBusiness(t *testing.T, err error, code, msg string) {
	t.Helper()
	be, ok := AsBusiness(err)
	require.True(t, ok, "want business error %s, got %v", code, err)
	require.Equal(t, code, be.Code, "message: %s", be.Msg)
	require.Contains(t, be.Msg, msg)
}

func TestScriptHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		item  string // overrides testItem's request when set
		want  string // JSON result
		exact bool   // want is compared byte for byte
		code  string // business error code
		msg   string // part of the business error message
	}{
		{name: "field mapping", src: `
			function handle(item, ctx) {
				var rate = Number(ctx.controls.rate || 1);
				return {
					orderNo: ctx.controls.prefix + item.code.toUpperCase(),
					amount: item.qty * item.price * rate,
					lines: item.lines.map(function (l, i) { return {no: i + 1, name: l.n}; }),
					ref: ctx.requestId + "-" + ctx.index,
					attempt: ctx.attempt, api: ctx.api, app: ctx.appKey, tenant: ctx.header.tenant,
				};
			}`,
			want: `{"orderNo":"SO-AB-1","amount":15,"lines":[{"no":1,"name":"x"},{"no":2,"name":"y"}],
				"ref":"1234567890123456789-3","attempt":2,"api":"demo.order.save","app":"app-1","tenant":"t-9"}`},
		{name: "const arrow handle", src: `const handle = (item) => ({sku: item.code, missing: item.nope});`, want: `{"sku":"ab-1"}`},
		{name: "undefined gives {}", src: `function handle() {}`, want: `{}`},
		{name: "array result", src: `function handle(item) { return [item.qty, null, undefined] }`, want: `[3,null,null]`},
		{name: "JSON.stringify semantics", src: `function handle() {
				return {d: new Date(0), s: new String("w"), n: new Number(4), b: new Boolean(false), custom: {toJSON: function () { return "c" }},
					z: -0, f: 0.1 + 0.2, big: 1e21, m: new Map([[1, 2]]), holes: [1, , 3], args: (function () { return arguments })(7)};
			}`, want: `{"d":"1970-01-01T00:00:00.000Z","s":"w","n":4,"b":false,"custom":"c","z":0,"f":0.30000000000000004,"big":1e+21,
				"m":{},"holes":[1,null,3],"args":{"0":7}}`},
		{name: "strings escaped as JSON.stringify does", src: `function handle() { return {s: "é\"\n\u0001<>&", k: {"a\"b": 1}} }`,
			want: `{"s":"é\"\n\u0001<>&","k":{"a\"b":1}}`, exact: true},
		{name: "empty item is null", src: `function handle(item) { return {isNull: item === null} }`, item: "-", want: `{"isNull":true}`},
		{name: "console is a no-op", src: `function handle(item) { console.log("hi", item); console.error("x"); return {ok: true} }`, want: `{"ok":true}`},
		{name: "redefined built-ins do not break the result", src: `
			JSON.stringify = function () { return "hacked" };
			Object.keys = function () { return [] };
			function handle() { return {a: [1, {b: 2}]} }`, want: `{"a":[1,{"b":2}]}`},
		{name: "no host objects", src: `function handle() {
				return {require: typeof require, process: typeof process, module: typeof module, setTimeout: typeof setTimeout,
					globals: Object.keys(globalThis)};
			}`, want: `{"require":"undefined","process":"undefined","module":"undefined","setTimeout":"undefined","globals":["console","handle"]}`},

		{name: "business throw", src: `function handle(item) { if (item.qty > 2) throw {code: "demo.too_many", message: "qty " + item.qty}; }`,
			code: "demo.too_many", msg: "qty 3"},
		{name: "Error with a code", src: `function handle() { var e = new Error("no stock"); e.code = "demo.stock"; throw e }`,
			code: "demo.stock", msg: "no stock"},
		{name: "TypeError", src: `function handle(item) { return item.nope.deeper }`,
			code: CodeScriptError, msg: "TypeError: Cannot read property 'deeper' of undefined at handle (script.js:1:"},
		{name: "thrown string", src: `function handle() { throw "plain" }`, code: CodeScriptError, msg: "plain"},
		{name: "code that is not a string", src: `function handle() { throw {code: 42, message: "m"} }`, code: CodeScriptError, msg: "[object Object]"},
		{name: "syntax error at run time", src: `function handle() { return eval("(") }`, code: CodeScriptError, msg: "SyntaxError"},
		{name: "runaway recursion", src: `function handle() { function f(n) { return f(n + 1) + 1 } return f(0) }`,
			code: CodeScriptError, msg: "maximum call stack size exceeded"},
		{name: "recursion through a built-in", src: `function handle() { function f() { [0].forEach(f) } f() }`,
			code: CodeScriptError, msg: "maximum call stack size exceeded"},
		{name: "top level throws", src: `null.x; function handle() {}`, code: CodeScriptError, msg: "top level failed: TypeError"},
		{name: "handle not a function", src: `var handle = 5;`, code: CodeScriptError, msg: "does not define function handle"},
		{name: "invalid item JSON", src: `function handle() {}`, item: `{`, code: CodeScriptError, msg: "not valid JSON"},

		{name: "huge string", src: `function handle() { return {s: "x".repeat(2 << 20)} }`, code: CodeScriptOutputTooLarge, msg: "at $.s"},
		{name: "many small values", src: `function handle() { return {rows: new Array(3000).fill({s: "x".repeat(1000)})} }`,
			code: CodeScriptOutputTooLarge, msg: "more than 1048576 bytes of JSON at $.rows["},
		{name: "function result", src: `function handle() { return function () {} }`, code: CodeInvalidOutput, msg: "a function at $"},
		{name: "nested function", src: `function handle() { return {a: [1, {f: Math.max}]} }`, code: CodeInvalidOutput, msg: "a function at $.a[1].f"},
		{name: "NaN", src: `function handle() { return {x: 0 / 0} }`, code: CodeInvalidOutput, msg: "NaN at $.x"},
		{name: "Infinity", src: `function handle() { return [1 / 0] }`, code: CodeInvalidOutput, msg: "Infinity at $[0]"},
		{name: "BigInt", src: `function handle() { return {n: 10n} }`, code: CodeInvalidOutput, msg: "BigInt"},
		{name: "cycle", src: `function handle() { var o = {a: {}}; o.a.back = o; return o }`, code: CodeInvalidOutput, msg: "a cycle at $.a.back"},
		{name: "too deep", src: `function handle() { var o = {}; for (var i = 0; i < 150; i++) o = {a: o}; return o }`,
			code: CodeInvalidOutput, msg: "nested more than 100 levels"},
		{name: "shared objects blow up", src: `function handle() { var o = "x".repeat(1000); for (var i = 0; i < 40; i++) o = {a: o, b: o}; return o }`,
			code: CodeScriptOutputTooLarge, msg: "more than 1048576"},
		{name: "throwing getter", src: `function handle() { return {ok: 1, get x() { throw new Error("getter broke") }} }`,
			code: CodeInvalidOutput, msg: "getter broke"},
		{name: "getter that never returns", src: `function handle() { return {get x() { for (;;) {} }} }`, code: CodeScriptTimeout, msg: "ran longer than 1s"},
		{name: "toJSON that never returns", src: `function handle() { return [{toJSON: function () { for (;;) {} }}] }`, code: CodeScriptTimeout, msg: "ran longer than 1s"},
		{name: "throwing toJSON", src: `function handle() { return {x: {toJSON: function () { throw new Error("nope") }}} }`,
			code: CodeInvalidOutput, msg: "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := testItem()
			switch tc.item {
			case "":
			case "-":
				it.Request = nil
			default:
				it.Request = json.RawMessage(tc.item)
			}
			res, err := runScript(t, context.Background(), tc.src, it)
			if tc.code != "" {
				requireBusiness(t, err, tc.code, tc.msg)
				require.Nil(t, res)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(res))
			if tc.exact {
				require.Equal(t, tc.want, string(res))
			}
		})
	}
}

func TestScriptFreshSandboxPerCall(t *testing.T) {
	t.Parallel()
	s, err := NewScript(`var calls = 0; Object.prototype.polluted = 1; function handle() { calls++; return {calls: calls} }`)
	require.NoError(t, err)
	for range 3 {
		res, err := s.Handle(context.Background(), testItem())
		require.NoError(t, err)
		require.JSONEq(t, `{"calls":1}`, string(res))
	}
}

func TestScriptTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration // Script.Timeout; 0 = default
		ctxTime time.Duration // the caller's deadline; 0 = none
		min     time.Duration
		max     time.Duration
		msg     string
	}{
		{name: "default limit", min: DefaultScriptTimeout, max: 3 * time.Second, msg: "ran longer than 1s"},
		{name: "custom limit", timeout: 100 * time.Millisecond, min: 100 * time.Millisecond, max: 900 * time.Millisecond, msg: "ran longer than 100ms"},
		{name: "earlier caller deadline", ctxTime: 150 * time.Millisecond, min: 150 * time.Millisecond, max: 900 * time.Millisecond, msg: "before the item's deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewScript(`function handle() { while (true) {} }`)
			require.NoError(t, err)
			s.Timeout = tc.timeout
			ctx := context.Background()
			if tc.ctxTime > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTime)
				defer cancel()
			}
			start := time.Now()
			_, err = s.Handle(ctx, testItem())
			elapsed := time.Since(start)
			requireBusiness(t, err, CodeScriptTimeout, tc.msg)
			require.GreaterOrEqual(t, elapsed, tc.min)
			require.Less(t, elapsed, tc.max)
		})
	}
}

func TestScriptCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := runScript(t, ctx, `function handle() { for (;;) { Math.sqrt(2) } }`, testItem())
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.Canceled)
	_, isBusiness := AsBusiness(err)
	require.False(t, isBusiness, "a canceled attempt is retried, not failed: %v", err)
	require.Less(t, elapsed, 600*time.Millisecond)

	// Already canceled: the script does not start.
	_, err = runScript(t, ctx, `function handle() {}`, testItem())
	require.ErrorIs(t, err, context.Canceled)
}

func TestScriptStuckInBuiltinIsAbandoned(t *testing.T) {
	t.Parallel()
	s := &Script{Timeout: 50 * time.Millisecond}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	start := time.Now()
	_, err := s.sandboxed(context.Background(), func(*sandbox) (json.RawMessage, error) {
		<-release // like a built-in an interrupt cannot stop
		return json.RawMessage(`{}`), nil
	})
	requireBusiness(t, err, CodeScriptTimeout, "ran longer than 50ms")
	require.Less(t, time.Since(start), 50*time.Millisecond+scriptGrace+500*time.Millisecond)
}

func TestScriptEnginePanic(t *testing.T) {
	t.Parallel()
	s := &Script{}
	_, err := s.sandboxed(context.Background(), func(*sandbox) (json.RawMessage, error) { panic("engine bug") })
	requireBusiness(t, err, CodeScriptError, "script engine failure: engine bug")
}

func TestScriptConcurrent(t *testing.T) {
	t.Parallel()
	s, err := NewScript(`
		var seen = 0;
		function handle(item, ctx) {
			seen++;
			var sum = 0;
			for (var i = 0; i < item.n; i++) sum += i;
			return {index: ctx.index, sum: sum, seen: seen, tag: ctx.controls.tag};
		}`)
	require.NoError(t, err)
	const n = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]json.RawMessage, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			it := Item{RequestID: 1, Index: i, Request: json.RawMessage(fmt.Sprintf(`{"n":%d}`, 1000+i)),
				Controls: map[string]string{"tag": fmt.Sprint("t", i)}}
			results[i], errs[i] = s.Handle(context.Background(), it)
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "item %d", i)
		m := 1000 + i
		require.JSONEq(t, fmt.Sprintf(`{"index":%d,"sum":%d,"seen":1,"tag":"t%d"}`, i, m*(m-1)/2, i), string(results[i]))
	}
}

func TestCompileScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		err  string // part of the error; empty means valid
	}{
		{name: "function declaration", src: "function handle(item, ctx) {\n  return item;\n}"},
		{name: "let arrow", src: `let handle = (item) => item;`},
		{name: "var function expression", src: `var handle = function (item) { return item };`},
		{name: "syntax error with position", src: "function handle(item) {\n  return item.;\n}", err: "script.js: Line 2:15"},
		{name: "reserved word", src: "function handle(item) {\n  var if = 1;\n}", err: "Line 2:7"},
		{name: "missing handle", src: `function handler(item) { return item }`, err: "does not declare function handle"},
		{name: "handle nested only", src: `function outer() { function handle() {} }`, err: "does not declare function handle"},
		{name: "handle not a function", src: `var handle = 5;`, err: "does not define function handle"},
		{name: "top level throws", src: "function handle() {}\nthrow new TypeError(\"boom\");", err: "top level failed: TypeError: boom at script.js:2:"},
		{name: "top level business throw", src: `function handle() {}; throw {code: "x.y", message: "m"}`, err: "x.y: m"},
		{name: "source too large", src: "function handle() {}\n//" + strings.Repeat("x", MaxScriptSource), err: "more than 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CompileScript(tc.src)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestCompileScriptTopLevelTimeout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	err := CompileScript(`function handle() {} while (true) {}`)
	require.ErrorContains(t, err, CodeScriptTimeout)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestScriptCacheIsBounded(t *testing.T) {
	t.Parallel()
	src := `function handle() { return {v: 1} }`
	p1, err := compileScript(src)
	require.NoError(t, err)
	p2, err := compileScript(src)
	require.NoError(t, err)
	require.Same(t, p1, p2, "one program per distinct source")
	for i := range scriptCacheSize + 10 {
		_, err := compileScript(fmt.Sprintf(`function handle() { return {v: %d} }`, i))
		require.NoError(t, err)
	}
	scriptCache.Lock()
	defer scriptCache.Unlock()
	require.LessOrEqual(t, len(scriptCache.progs), scriptCacheSize)
	require.Len(t, scriptCache.order, len(scriptCache.progs))
}

func TestRegistryScript(t *testing.T) {
	t.Parallel()
	r := NewRegistry(nil)
	h, err := r.Resolve(catalog.HandlerSpec{Type: catalog.HandlerScript, Script: `function handle(item) { return {got: item.a} }`})
	require.NoError(t, err)
	require.IsType(t, &Script{}, h)
	res, err := Safe(h).Handle(context.Background(), Item{Request: json.RawMessage(`{"a":1}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"got":1}`, string(res))

	for _, src := range []string{"", "function handle( {", "x", strings.Repeat(" ", MaxScriptSource+1)} {
		_, err := r.Resolve(catalog.HandlerSpec{Type: catalog.HandlerScript, Script: src})
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "script handler: "), err.Error())
		require.False(t, errors.Is(err, context.Canceled))
	}
}
