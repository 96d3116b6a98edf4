package sqlstore

import (
	"encoding/binary"
	"math/bits"
)

// appendDictBlock appends to dst an S2 block of src coded against
// packDict1, which packDict.Decode reads back, as packDict.Encode's block
// does. It is the same format from a smaller encoder: s2's clears a
// 64 KiB hash table on the stack for every block and probes another 64 KiB
// one for the dictionary, which under load cost three times what its
// benchmark did (half of it in clearing the table; 7 % of the server's CPU
// in a PostgreSQL run with rules) and left the caches cold for the rest of
// the track. Here the block's table is 4 KiB and the dictionary's 8 KiB,
// built once: an explanation is a few kilobytes and the dictionary under
// five, so larger tables would stay mostly empty.
//
// The encoder is greedy, like s2's fastest: at each position it looks up
// the last earlier position of the block and of the dictionary whose four
// bytes hash alike, takes the longer match of at least four bytes, and
// otherwise moves on, faster the longer it has found nothing. It emits
// literals and copies only, never s2's repeat codes, so every block is also
// valid Snappy apart from its references into the dictionary.
//
// src must be at most maxDictBlockSrc bytes, so that every offset fits the
// two-byte copy and every dictionary reference starts within the first
// 64 KiB of output (s2.MaxDictSrcOffset).
func appendDictBlock(dst, src []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	var table [1 << blockHashBits]uint16 // position+1 of the last 4 bytes that hashed here; 0 if none
	dict := packDict1
	next, s := 0, 0 // next is the first byte not yet emitted
	for s+4 <= len(src) {
		cv := binary.LittleEndian.Uint32(src[s:])
		h := hash4(cv, dictHashBits)
		hb := h >> (dictHashBits - blockHashBits)
		n, off := 0, 0
		if c := int(table[hb]) - 1; c >= 0 && binary.LittleEndian.Uint32(src[c:]) == cv {
			n, off = 4+matchLen(src[c+4:], src[s+4:]), s-c
		}
		if c := int(dictTable[h]) - 1; c >= 0 && binary.LittleEndian.Uint32(dict[c:]) == cv {
			if m := 4 + matchLen(dict[c+4:], src[s+4:]); m > n {
				n, off = m, s+len(dict)-c
			}
		}
		table[hb] = uint16(s + 1)
		if n == 0 {
			s += 1 + (s-next)>>5
			continue
		}
		dst = appendLiteral(dst, src[next:s])
		dst = appendCopy(dst, off, n)
		s += n
		next = s
		// The match's last positions are the likeliest start of a
		// later one (the next field of a repeated object).
		if s+4 <= len(src) && n > 4 {
			table[hash4(binary.LittleEndian.Uint32(src[s-2:]), blockHashBits)] = uint16(s - 1)
		}
	}
	return appendLiteral(dst, src[next:])
}

const (
	blockHashBits = 11 // appendDictBlock's table: 2048 entries
	dictHashBits  = 12 // dictTable: 4096 entries
	// maxDictBlockSrc is the largest input appendDictBlock takes;
	// compress hands longer ones to s2.
	maxDictBlockSrc = 32 << 10
)

// dictTable maps the hash of every four bytes of packDict1 to their last
// position in it, plus one. Later positions win: the dictionary ends with
// what explanations repeat most.
var dictTable = func() *[1 << dictHashBits]uint16 {
	var t [1 << dictHashBits]uint16
	for i := 0; i+4 <= len(packDict1); i++ {
		t[hash4(binary.LittleEndian.Uint32(packDict1[i:]), dictHashBits)] = uint16(i + 1)
	}
	return &t
}()

// hash4 hashes four bytes into b bits (multiplicative hashing).
func hash4(u uint32, b uint) uint32 { return (u * 2654435761) >> (32 - b) }

// matchLen returns how many leading bytes a and b share. A match in the
// dictionary ends with it, as a copy may not run past its end; one in the
// block may overlap the bytes it produces, which the decoder copies
// forwards, byte by byte.
func matchLen(a, b []byte) int {
	n := 0
	for len(a) >= 8 && len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b, n = a[8:], b[8:], n+8
	}
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b, n = a[1:], b[1:], n+1
	}
	return n
}

// appendLiteral appends lit as an S2 (Snappy) literal.
func appendLiteral(dst, lit []byte) []byte {
	if len(lit) == 0 {
		return dst
	}
	switch n := uint32(len(lit) - 1); {
	case n < 60:
		dst = append(dst, byte(n)<<2)
	case n < 1<<8:
		dst = append(dst, 60<<2, byte(n))
	case n < 1<<16:
		dst = append(dst, 61<<2, byte(n), byte(n>>8))
	case n < 1<<24:
		dst = append(dst, 62<<2, byte(n), byte(n>>8), byte(n>>16))
	default:
		dst = append(dst, 63<<2, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	}
	return append(dst, lit...)
}

// appendCopy appends a copy of n bytes from off bytes back (into the
// dictionary when off is more than the output so far), 1 <= off < 65536:
// one two-byte tag when it fits (n 4-11, off under 2048), else three-byte
// tags of at most 64 bytes.
func appendCopy(dst []byte, off, n int) []byte {
	if n <= 11 && off < 2048 {
		return append(dst, 0x01|byte(n-4)<<2|byte(off>>8)<<5, byte(off))
	}
	for n > 0 {
		m := min(n, 64)
		dst = append(dst, 0x02|byte(m-1)<<2, byte(off), byte(off>>8))
		n -= m
	}
	return dst
}
