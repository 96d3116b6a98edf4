package sqlstore

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"sync"
)

// On SQLite a decision longer than packMin bytes (one with its rules'
// explanation, about 2.3 KB under ten rules) is stored DEFLATE-compressed
// as a BLOB that starts with packMarker, which no JSON text does. The
// writer writes every byte of a row twice (to the WAL, then to the database
// at a checkpoint), alone; compressing, on the caller's goroutine, makes the
// explanation a third of its size. PostgreSQL compresses wide values itself
// (TOAST, LZ4 where available) and stores the JSON as it is.
const (
	packMin    = 512
	packMarker = 0x01
)

var packers = sync.Pool{New: func() any {
	w, err := flate.NewWriter(io.Discard, flate.BestSpeed)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return w
}}

// pack returns s compressed (a []byte) if it is long enough to gain, else
// s itself.
func pack(s string) any {
	if len(s) < packMin {
		return s
	}
	var b bytes.Buffer
	b.Grow(len(s) / 2)
	b.WriteByte(packMarker)
	w := packers.Get().(*flate.Writer)
	w.Reset(&b)
	_, err := io.WriteString(w, s)
	if err == nil {
		err = w.Close()
	}
	packers.Put(w)
	if err != nil || b.Len() >= len(s) {
		return s // writing to a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// unpack returns what pack was given.
func unpack(s string) ([]byte, error) {
	if s == "" || s[0] != packMarker {
		return []byte(s), nil
	}
	b, err := io.ReadAll(flate.NewReader(strings.NewReader(s[1:])))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return b, nil
}
