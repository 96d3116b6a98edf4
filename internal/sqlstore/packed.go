package sqlstore

import (
	"fmt"

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

// pack returns s compressed (a []byte) if it is long enough to gain, else
// s itself.
func pack(s string) any {
	if len(s) < packMin {
		return s
	}
	b := make([]byte, 1+s2.MaxEncodedLen(len(s)))
	b[0] = packMarker
	n := len(s2.Encode(b[1:], []byte(s)))
	if 1+n >= len(s) {
		return s
	}
	return b[:1+n]
}

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
