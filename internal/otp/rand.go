package otp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// errRejected is returned when a random source keeps producing bytes that
// rejection sampling throws away. From crypto/rand that has a probability
// far below 2^-100; it means the reader is broken (all 0xff, say).
var errRejected = errors.New("otp: random source rejected too many bytes")

// maxStalls bounds how many reads in a row may yield no usable byte, so a
// broken reader makes draw fail instead of loop forever.
const maxStalls = 32

// source returns r, or crypto/rand's reader when r is nil.
func source(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// draw fills dst with symbols of alphabet chosen uniformly from r. It reads
// bytes and keeps only those below the largest multiple of len(alphabet)
// that fits in a byte, so every symbol is equally likely (no modulo bias).
// len(alphabet) must be between 2 and 256.
func draw(r io.Reader, dst []byte, alphabet string) error {
	n := len(alphabet)
	limit := 256 - 256%n // accept b < limit; limit == 256 when n divides 256
	var buf [32]byte
	filled, stalls := 0, 0
	for filled < len(dst) {
		if stalls == maxStalls {
			return errRejected
		}
		stalls++
		// Ask for a little more than is missing so one round usually does.
		want := min(len(buf), len(dst)-filled+4)
		if _, err := io.ReadFull(r, buf[:want]); err != nil {
			return fmt.Errorf("otp: read random source: %w", err)
		}
		for _, b := range buf[:want] {
			if int(b) >= limit {
				continue
			}
			dst[filled] = alphabet[int(b)%n]
			filled++
			stalls = 0
			if filled == len(dst) {
				break
			}
		}
	}
	return nil
}

// randomBytes fills a new slice of n bytes from r.
func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(source(r), b); err != nil {
		return nil, fmt.Errorf("otp: read random source: %w", err)
	}
	return b, nil
}
