package top

import (
	"time"
)

// TimestampLayout is TOP's timestamp format, in Beijing time (UTC+8), as
// TOP's SDKs send it.
const TimestampLayout = "2006-01-02 15:04:05"

// Beijing is UTC+8 without DST; fixed, so no tzdata is needed.
var Beijing = time.FixedZone("CST", 8*60*60)

// MaxClockSkew is how far a request's timestamp may be from the gateway's
// clock (TOP: 10 minutes).
const MaxClockSkew = 10 * time.Minute

// ParseTimestamp reads a TOP timestamp and checks it is within
// MaxClockSkew of now.
func ParseTimestamp(s string, now time.Time) (time.Time, *Error) {
	if s == "" {
		return time.Time{}, NewError(CodeMissingTimestamp, "isv.missing-parameter:timestamp", "missing required parameter: timestamp")
	}
	t, err := time.ParseInLocation(TimestampLayout, s, Beijing)
	if err != nil {
		return time.Time{}, NewError(CodeInvalidTimestamp, "isv.invalid-parameter:timestamp",
			"timestamp must be yyyy-MM-dd HH:mm:ss (UTC+8)")
	}
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return time.Time{}, NewError(CodeInvalidTimestamp, "isv.invalid-parameter:timestamp",
			"timestamp is more than 10 minutes away from the server time "+now.In(Beijing).Format(TimestampLayout))
	}
	return t, nil
}

// FormatTime renders t as TOP does.
func FormatTime(t time.Time) string { return t.In(Beijing).Format(TimestampLayout) }
