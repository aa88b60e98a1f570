package top

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC) // 12:00:00 in Beijing
	tests := []struct {
		in   string
		code int
	}{
		{"2026-11-24 12:00:00", 0},
		{"2026-11-24 12:09:59", 0},
		{"2026-11-24 11:50:01", 0},
		{"2026-11-24 12:10:01", CodeInvalidTimestamp},
		{"2026-11-24 11:49:00", CodeInvalidTimestamp},
		{"2026-11-24T12:00:00Z", CodeInvalidTimestamp},
		{"1764000000000", CodeInvalidTimestamp},
		{"", CodeMissingTimestamp},
	}
	for _, tc := range tests {
		got, err := ParseTimestamp(tc.in, now)
		if tc.code == 0 {
			require.Nil(t, err, tc.in)
			require.Equal(t, tc.in, FormatTime(got))
			continue
		}
		require.NotNil(t, err, tc.in)
		require.Equal(t, tc.code, err.Code, tc.in)
	}
}
