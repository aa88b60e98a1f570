// Package requestid makes openApiReqId values: 19-digit numeric strings like
// Kingdee's (2035642993280551936), unique across processes and roughly
// ordered by time, so they also serve as TOP's numeric task_id.
package requestid

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"time"
)

// Layout (snowflake-like) below the 10^18 offset that makes every id 19
// digits: milliseconds since the epoch << 22 | node (10 bits) << 12 |
// sequence (12 bits). It lasts until about 2085.
const (
	offset   = 1_000_000_000_000_000_000
	nodeBits = 10
	seqBits  = 12
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generator hands out ids. The node number is random per process; the
// store's primary key catches the unlikely clash and the caller retries.
type Generator struct {
	mu   sync.Mutex
	node int64
	last int64 // ms since epoch of the last id
	seq  int64
	now  func() time.Time
}

// New returns a Generator with a random node number.
func New() *Generator {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return &Generator{node: int64(binary.BigEndian.Uint16(b[:])) & (1<<nodeBits - 1), now: time.Now}
}

// Next returns a new id.
func (g *Generator) Next() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().Sub(epoch).Milliseconds()
	if ms < g.last { // clock went back: keep counting from the last instant
		ms = g.last
	}
	if ms == g.last {
		g.seq = (g.seq + 1) & (1<<seqBits - 1)
		if g.seq == 0 { // 4096 ids in one millisecond: borrow the next one
			ms++
		}
	} else {
		g.seq = 0
	}
	g.last = ms
	return offset + ms<<(nodeBits+seqBits) | g.node<<seqBits | g.seq
}

// Parse checks an openApiReqId / task_id and returns its value.
func Parse(s string) (int64, error) {
	if len(s) != 19 {
		return 0, errors.New("must be a 19-digit number")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < offset {
		return 0, errors.New("must be a 19-digit number")
	}
	return n, nil
}
