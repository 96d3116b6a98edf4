package sqlstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

// On SQLite a decision longer than packMin bytes (one with its rules'
// explanation, about 2.3 KB under ten rules) is stored compressed (an S2
// block, Snappy's faster successor) as a BLOB that starts with packMarker,
// which no JSON text does. The writer writes every byte of a row twice (to
// the WAL, then to the database at a checkpoint), alone; compressing, on
// the caller's goroutine, makes the explanation about a third of its size
// for half a microsecond. (DEFLATE made it a fifth, but its Huffman tables
// cost 33 us a track under load.) PostgreSQL compresses wide values itself
// (TOAST, LZ4 where available) and stores the JSON as it is.
const (
	packMin    = 512
	packMarker = 0x01
	// maxUnpacked bounds what a stored value may claim to decompress to.
	maxUnpacked = 16 << 20
)

// pack returns b compressed (a []byte of its own) if it is long enough to
// gain, else b as a string. It keeps no reference to b.
func pack(b []byte) any {
	if len(b) < packMin {
		return string(b)
	}
	// Compress into a pooled buffer of the worst case's size, then keep
	// only what the block needs: about a third of b for an explanation.
	sp := packBufs.Get().(*[]byte)
	dst := slices.Grow((*sp)[:0], s2.MaxEncodedLen(len(b)))
	dst = dst[:cap(dst)]
	enc := s2.Encode(dst, b)
	var out any
	if 1+len(enc) >= len(b) {
		out = string(b)
	} else {
		p := make([]byte, 1+len(enc))
		p[0] = packMarker
		copy(p[1:], enc)
		out = p
	}
	if cap(dst) <= maxPooledDecisionBuf {
		*sp = dst[:0]
		packBufs.Put(sp)
	}
	return out
}

// packBufs pools pack's compression buffers.
var packBufs = sync.Pool{New: func() any { return new([]byte) }}

// unpack returns what pack was given.
func unpack(s string) ([]byte, error) {
	if s == "" || s[0] != packMarker {
		return []byte(s), nil
	}
	src := []byte(s[1:])
	n, err := s2.DecodedLen(src)
	if err != nil || n > maxUnpacked {
		return nil, fmt.Errorf("decompress: damaged value")
	}
	b, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return b, nil
}
