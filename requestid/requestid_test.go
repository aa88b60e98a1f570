package requestid

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNextIsUniqueOrderedAnd19Digits(t *testing.T) {
	t.Parallel()
	g := New()
	seen := make(map[int64]bool, 20000)
	var prev int64
	for range 20000 { // more than 4096 per millisecond: exercises the sequence overflow
		id := g.Next()
		require.Len(t, strconv.FormatInt(id, 10), 19)
		require.False(t, seen[id], "duplicate id %d", id)
		require.Greater(t, id, prev)
		seen[id], prev = true, id
	}
}

func TestNextSurvivesClockGoingBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	g := New()
	g.now = func() time.Time { return now }
	a := g.Next()
	now = now.Add(-time.Second)
	b := g.Next()
	require.Greater(t, b, a)
}

func TestNextLastsPastTheCentury(t *testing.T) {
	t.Parallel()
	g := New()
	g.now = func() time.Time { return time.Date(2084, 1, 1, 0, 0, 0, 0, time.UTC) }
	id := g.Next()
	require.Len(t, strconv.FormatInt(id, 10), 19)
	require.Positive(t, id)
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2035642993280551936", 2035642993280551936, true},
		{"", 0, false},
		{"123", 0, false},
		{"0035642993280551936", 0, false},
		{"20356429932805519x6", 0, false},
		{"-035642993280551936", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got)
	}
}
