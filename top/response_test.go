package top

import (
	"encoding/json"
	"encoding/xml"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeTask(t *testing.T) {
	t.Parallel()
	task := Obj{
		{"task_id", Int(12345)},
		{"status", Str("done")},
		{"subtasks", List{Item: "subtask", Items: []Value{
			Obj{{"sub_task_request", Str(`{"tid":1}`)}, {"sub_task_result", Str(`{"trade":{"seller_nick":"淘宝卖家<&>"}}`)}, {"is_success", Bool(true)}},
		}}},
		{"method", Str("taobao.topats.trades.fullinfo.get")},
	}
	root := ResponseName("taobao.topats.result.get")
	require.Equal(t, "topats_result_get_response", root)

	js := Encode(FormatJSON, root, Obj{{"task", task}})
	require.JSONEq(t, `{"topats_result_get_response":{"task":{"task_id":12345,"status":"done",
		"subtasks":{"subtask":[{"sub_task_request":"{\"tid\":1}","sub_task_result":"{\"trade\":{\"seller_nick\":\"淘宝卖家<&>\"}}","is_success":true}]},
		"method":"taobao.topats.trades.fullinfo.get"}}}`, string(js))

	x := Encode(FormatXML, root, Obj{{"task", task}})
	var parsed struct {
		XMLName xml.Name `xml:"topats_result_get_response"`
		Task    struct {
			TaskID   int64  `xml:"task_id"`
			Status   string `xml:"status"`
			Subtasks struct {
				List    string `xml:"list,attr"`
				Subtask []struct {
					Request string `xml:"sub_task_request"`
					Result  string `xml:"sub_task_result"`
					Success bool   `xml:"is_success"`
				} `xml:"subtask"`
			} `xml:"subtasks"`
		} `xml:"task"`
	}
	require.NoError(t, xml.Unmarshal(x, &parsed), string(x))
	require.Equal(t, int64(12345), parsed.Task.TaskID)
	require.Equal(t, "true", parsed.Task.Subtasks.List)
	require.Len(t, parsed.Task.Subtasks.Subtask, 1)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(parsed.Task.Subtasks.Subtask[0].Result), &res), "JSON text survives XML escaping")
	require.True(t, parsed.Task.Subtasks.Subtask[0].Success)
}

func TestErrorResponse(t *testing.T) {
	t.Parallel()
	e := MissingParam("tids")
	require.JSONEq(t, `{"error_response":{"code":40,"msg":"Missing Required Arguments","sub_code":"isv.missing-parameter:tids",
		"sub_msg":"missing required parameter: tids","request_id":"r1"}}`, string(ErrorResponse(FormatJSON, e, "r1")))
	require.Equal(t, `<?xml version="1.0" encoding="utf-8" ?><error_response><code>25</code><msg>Invalid Signature</msg></error_response>`,
		string(ErrorResponse(FormatXML, &Error{Code: CodeInvalidSignature}, "")))
	for in, want := range map[string]Format{"": FormatJSON, "JSON": FormatJSON, "xml": FormatXML} {
		got, ok := ParseFormat(in)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	_, ok := ParseFormat("yaml")
	require.False(t, ok)
}
