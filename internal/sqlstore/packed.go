package sqlstore

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

// A decision longer than packMin bytes (one with its rules' explanation,
// about 2.2 KB under ten rules) is stored compressed, as a BLOB (SQLite) or
// bytea (PostgreSQL, migration 0016) that starts with a marker byte, which
// no JSON text does:
//   - packDictMarker: an S2 block (Snappy's faster successor) coded against
//     packdict1.dict, a dictionary of the fragments every explanation
//     repeats (its keys, the data points' names, the rules' result
//     templates). Ten rules' explanation comes to about a fifth of its
//     size, where S2 alone left two fifths: 468 bytes against 903 for the
//     benchmark's, for 2.8 us against 2.2. Vigil codes these blocks itself
//     (appendDictBlock), with tables sized for an explanation; inputs over
//     maxDictBlockSrc go through s2's encoder. Both read with s2's decoder.
//   - packMarker: an S2 block without a dictionary, as rows written before
//     the dictionary were; they still read.
//
// The writer writes every byte of a row twice (to the WAL, then to the
// database at a checkpoint), alone; compressing happens on the caller's
// goroutine. (DEFLATE made the explanation a fifth too, but its Huffman
// tables cost 33 us a track under load.) PostgreSQL would compress the JSON
// itself (TOAST, LZ4), but in the one backend that runs the batched track
// insert, the pipeline's narrowest point, and to half its size only.
// Values stored as JSON text (PostgreSQL before migration 0016) read as
// they are.
const (
	packMin        = 512
	packMarker     = 0x01
	packDictMarker = 0x02
	// maxUnpacked bounds what a stored value may claim to decompress to.
	maxUnpacked = 16 << 20
)

// packDict1 is the dictionary of packDictMarker values. Stored rows decode
// with it, so its bytes never change (TestPackDictFrozen pins them); a
// better dictionary would be a new file with a marker of its own.
//
//go:embed packdict1.dict
var packDict1 []byte

// packDict1Repeat is the dictionary's initial repeat offset (part of the
// S2 dictionary format, so as frozen as its bytes): the last decision
// header in it, where an explanation's block starts.
const packDict1Repeat = 4709

var packDict = s2.MakeDictManual(packDict1, packDict1Repeat)

// pack returns b compressed (a []byte of its own) if it is long enough to
// gain, else b as a string (SQLite stores it as TEXT). It keeps no
// reference to b.
func pack(b []byte) any {
	if p, ok := compress(b); ok {
		return p
	}
	return string(b)
}

// packBinary is pack for a bytea column (PostgreSQL, migration 0016): b
// itself, copied, when compressing it does not gain.
func packBinary(b []byte) []byte {
	if p, ok := compress(b); ok {
		return p
	}
	return bytes.Clone(b)
}

// compress returns b compressed, with its marker, in a slice of its own;
// false if b is too short to gain or compresses no shorter.
func compress(b []byte) ([]byte, bool) {
	if len(b) < packMin {
		return nil, false
	}
	// Compress into a pooled buffer, then keep only what the block needs:
	// about a fifth of b for an explanation.
	sp := packBufs.Get().(*[]byte)
	var enc []byte
	if len(b) <= maxDictBlockSrc {
		enc = appendDictBlock((*sp)[:0], b)
	} else {
		dst := slices.Grow((*sp)[:0], s2.MaxEncodedLen(len(b)))
		enc = packDict.Encode(dst[:cap(dst)], b)
	}
	var out []byte
	if 1+len(enc) < len(b) {
		out = make([]byte, 1+len(enc))
		out[0] = packDictMarker
		copy(out[1:], enc)
	}
	if cap(enc) <= maxPooledDecisionBuf {
		*sp = enc[:0]
		packBufs.Put(sp)
	}
	return out, out != nil
}

// packBufs pools pack's compression buffers.
var packBufs = sync.Pool{New: func() any { return new([]byte) }}

// unpack returns what pack was given.
func unpack(s string) ([]byte, error) {
	if s == "" || (s[0] != packMarker && s[0] != packDictMarker) {
		return []byte(s), nil
	}
	src := []byte(s[1:])
	n, err := s2.DecodedLen(src)
	if err != nil || n > maxUnpacked {
		return nil, fmt.Errorf("decompress: damaged value")
	}
	var b []byte
	if s[0] == packDictMarker {
		b, err = packDict.Decode(make([]byte, n), src)
	} else {
		b, err = s2.Decode(make([]byte, n), src)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return b, nil
}
