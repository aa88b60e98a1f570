package top

import "fmt"

// TOP's system error codes (the "low-level errors" that create no task).
const (
	CodeCallLimited          = 7
	CodeInsufficientISVPerms = 11
	CodeRemoteServiceError   = 15
	CodeMissingMethod        = 21
	CodeInvalidMethod        = 22
	CodeInvalidFormat        = 23
	CodeMissingSignature     = 24
	CodeInvalidSignature     = 25
	CodeMissingAppKey        = 28
	CodeInvalidAppKey        = 29
	CodeMissingTimestamp     = 30
	CodeInvalidTimestamp     = 31
	CodeMissingVersion       = 32
	CodeInvalidVersion       = 33
	CodeMissingArguments     = 40
	CodeInvalidArguments     = 41
)

var codeMsg = map[int]string{
	CodeCallLimited:          "App Call Limited",
	CodeInsufficientISVPerms: "Insufficient isv permissions",
	CodeRemoteServiceError:   "Remote service error",
	CodeMissingMethod:        "Missing Method",
	CodeInvalidMethod:        "Invalid Method",
	CodeInvalidFormat:        "Invalid Format",
	CodeMissingSignature:     "Missing Signature",
	CodeInvalidSignature:     "Invalid Signature",
	CodeMissingAppKey:        "Missing App Key",
	CodeInvalidAppKey:        "Invalid App Key",
	CodeMissingTimestamp:     "Missing Timestamp",
	CodeInvalidTimestamp:     "Invalid Timestamp",
	CodeMissingVersion:       "Missing Version",
	CodeInvalidVersion:       "Invalid Version",
	CodeMissingArguments:     "Missing Required Arguments",
	CodeInvalidArguments:     "Invalid Arguments",
}

// Error is an error_response: code/msg are TOP's system error, sub_code/
// sub_msg the detail (e.g. isv.missing-parameter:tids).
type Error struct {
	Code    int
	SubCode string
	SubMsg  string
}

func (e *Error) Error() string {
	if e.SubMsg != "" {
		return fmt.Sprintf("%d %s: %s", e.Code, e.Msg(), e.SubMsg)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Msg())
}

// Msg is the code's standard message.
func (e *Error) Msg() string {
	if m, ok := codeMsg[e.Code]; ok {
		return m
	}
	return "Unknown Error"
}

// NewError returns a system error with a sub_code and sub_msg.
func NewError(code int, subCode, subMsg string) *Error {
	return &Error{Code: code, SubCode: subCode, SubMsg: subMsg}
}

// MissingParam is TOP's error for an absent required argument.
func MissingParam(name string) *Error {
	return NewError(CodeMissingArguments, "isv.missing-parameter:"+name, "missing required parameter: "+name)
}

// InvalidParam is TOP's error for a malformed argument.
func InvalidParam(name, reason string) *Error {
	return NewError(CodeInvalidArguments, "isv.invalid-parameter:"+name, name+": "+reason)
}
