package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// insertActionsDirect is insertActions with advance, as a statement of its
// own on the write pool (commitAlone), sent through the connection's pgx
// PgConn instead of database/sql. The statement is prepared once per
// connection and shape, and its arguments are encoded into buffers that
// stay allocated between batches (paramEncoder). Through database/sql,
// pgx encoded a batch's thousand-odd arguments into buffers it shrinks
// after every statement, then copied them again: 41 % of the PostgreSQL
// writer goroutine's CPU under load, and a third of the server's allocated
// bytes, in the one goroutine every track waits for. An argument of a type
// the encoder does not know sends the batch the database/sql way.
func (db *DB) insertActionsDirect(ctx context.Context, ins []*actionInsert) (map[string]histVer, error) {
	args, key := db.insertArgs(ins, true)
	q := db.coalescedInsertSQL(key)
	conn, err := db.writePool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert actions: %w", err)
	}
	var inserted map[string]histVer
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		c := sc.Conn()
		sd, err := c.Prepare(ctx, key.statementName(), q)
		if err != nil {
			return err
		}
		enc := paramEncoders.Get().(*paramEncoder)
		defer enc.release()
		if err := enc.encode(sd.ParamOIDs, args); err != nil {
			return err
		}
		rr := c.PgConn().ExecStatement(ctx, sd, enc.vals, enc.formats, nil)
		inserted = make(map[string]histVer, len(ins))
		var scanErr error
		for rr.NextRow() {
			vals := rr.Values()
			if len(vals) != 3 || vals[0] == nil {
				scanErr = errors.New("unexpected result row")
				break
			}
			v := noHistVer // the user is not watched
			if vals[1] != nil && vals[2] != nil {
				base, err1 := strconv.ParseInt(string(vals[1]), 10, 64)
				ver, err2 := strconv.ParseInt(string(vals[2]), 10, 64)
				if err := errors.Join(err1, err2); err != nil {
					scanErr = err
					break
				}
				v = histVer{base, ver}
			}
			inserted[string(vals[0])] = v
		}
		// The statement commits before its last message; an error there,
		// the commit's included, shows in Close (which reads any rows left).
		if _, err := rr.Close(); err != nil {
			return err
		}
		return scanErr
	})
	// Back to the pool before a fallback takes a connection from it: the
	// pool may have only the one.
	conn.Close()
	if errors.Is(err, errUnencodable) || errors.Is(err, errNotPgx) {
		db.logger.Debug("sqlstore: direct action insert fell back to database/sql", "err", err)
		return db.insertActions(ctx, db.writePool, ins, true)
	}
	if err != nil {
		return nil, fmt.Errorf("insert actions: %w", err)
	}
	return inserted, nil
}

// statementName names the prepared statement of a coalesced insert's
// shape on a connection.
func (k coalescedKey) statementName() string {
	return fmt.Sprintf("vigil_insert_actions_%d_%t_%t_%t", k.n, k.advance, k.guarded, k.fresh)
}

// errUnencodable says that paramEncoder cannot encode an argument; errNotPgx
// that the pool's connection is not pgx's. Either sends a batch the
// database/sql way.
var (
	errUnencodable = errors.New("sqlstore: argument the direct insert cannot encode")
	errNotPgx      = errors.New("sqlstore: the write pool's connection is not a pgx connection")
)

// paramEncoder encodes a statement's arguments for the extended protocol:
// binary integers, floats, booleans and byte strings, text as it is, text
// arrays as array literals, nil (and an invalid sql.NullInt64, a nil byte
// slice) as NULL.
type paramEncoder struct {
	buf     []byte
	lens    []int
	vals    [][]byte
	formats []int16
}

// maxPooledParams caps the buffer a pooled paramEncoder keeps: a batch of
// maxBatch tracks with their explanations fits.
const maxPooledParams = 4 << 20

var paramEncoders = sync.Pool{New: func() any { return new(paramEncoder) }}

func (e *paramEncoder) release() {
	if cap(e.buf) > maxPooledParams {
		return
	}
	paramEncoders.Put(e)
}

// encode encodes args for parameters of the types oids, or returns
// errUnencodable.
func (e *paramEncoder) encode(oids []uint32, args []any) error {
	if len(oids) != len(args) {
		return errUnencodable
	}
	if e.buf == nil {
		// Never nil, so that an empty value is not NULL.
		e.buf = make([]byte, 0, 64<<10)
	}
	// Encode into buf, recording each value's length (-1: NULL), then
	// slice: buf may move while it grows.
	e.buf, e.formats, e.lens = e.buf[:0], e.formats[:0], e.lens[:0]
	for i, arg := range args {
		start := len(e.buf)
		null, format, err := e.append(oids[i], arg)
		if err != nil {
			return fmt.Errorf("%w: argument %d, %T for type OID %d", err, i+1, arg, oids[i])
		}
		n := len(e.buf) - start
		if null {
			n = -1
		}
		e.formats, e.lens = append(e.formats, format), append(e.lens, n)
	}
	e.vals = e.vals[:0]
	off := 0
	for _, n := range e.lens {
		if n < 0 {
			e.vals = append(e.vals, nil)
			continue
		}
		e.vals = append(e.vals, e.buf[off:off+n:off+n])
		off += n
	}
	return nil
}

// append appends arg's encoding for type oid to e.buf.
func (e *paramEncoder) append(oid uint32, arg any) (null bool, format int16, err error) {
	const text, bin = 0, 1
	switch v := arg.(type) {
	case nil:
		return true, text, nil
	case string:
		if oid != pgtype.TextOID && oid != pgtype.VarcharOID {
			return false, 0, errUnencodable
		}
		e.buf = append(e.buf, v...)
		return false, text, nil
	case int64:
		if oid != pgtype.Int8OID {
			return false, 0, errUnencodable
		}
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
		return false, bin, nil
	case sql.NullInt64:
		if !v.Valid {
			return true, text, nil
		}
		return e.append(oid, v.Int64)
	case float64:
		if oid != pgtype.Float8OID {
			return false, 0, errUnencodable
		}
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(v))
		return false, bin, nil
	case bool:
		if oid != pgtype.BoolOID {
			return false, 0, errUnencodable
		}
		b := byte(0)
		if v {
			b = 1
		}
		e.buf = append(e.buf, b)
		return false, bin, nil
	case []byte:
		if oid != pgtype.ByteaOID {
			return false, 0, errUnencodable
		}
		if v == nil {
			return true, text, nil
		}
		e.buf = append(e.buf, v...)
		return false, bin, nil
	case []string:
		if oid != pgtype.TextArrayOID {
			return false, 0, errUnencodable
		}
		e.buf = appendTextArray(e.buf, v)
		return false, text, nil
	}
	return false, 0, errUnencodable
}

// appendTextArray appends ss as a PostgreSQL array literal of quoted
// elements (none NULL).
func appendTextArray(b []byte, ss []string) []byte {
	b = append(b, '{')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		if strings.ContainsAny(s, `"\`) {
			for j := range len(s) {
				if s[j] == '"' || s[j] == '\\' {
					b = append(b, '\\')
				}
				b = append(b, s[j])
			}
		} else {
			b = append(b, s...)
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
