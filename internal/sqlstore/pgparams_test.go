package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	vigil "github.com/vigil-auth/vigil"
)

// TestParamEncoder sends every kind of argument the direct insert encodes
// to PostgreSQL, typed as the insert's parameters are, and checks what
// PostgreSQL read, as text; and that arguments it cannot encode are
// refused (errUnencodable, which sends a batch the database/sql way).
func TestParamEncoder(t *testing.T) {
	if os.Getenv(postgresEnv) == "" {
		t.Skip(postgresEnv + " is not set: PostgreSQL is needed")
	}
	db := openPostgres(t, Options{})
	cases := []struct {
		name string
		oid  uint32
		arg  any
		want sql.NullString // PostgreSQL's text of the parameter
	}{
		{"text", pgtype.TextOID, "plain", validText("plain")},
		{"empty text is not NULL", pgtype.TextOID, "", validText("")},
		{"text beyond ASCII", pgtype.TextOID, "café 😀", validText("café 😀")},
		{"int8", pgtype.Int8OID, int64(-1783000000000001), validText("-1783000000000001")},
		{"int8 max", pgtype.Int8OID, int64(math.MaxInt64), validText("9223372036854775807")},
		{"valid NullInt64", pgtype.Int8OID, sql.NullInt64{Int64: 42, Valid: true}, validText("42")},
		{"invalid NullInt64", pgtype.Int8OID, sql.NullInt64{}, sql.NullString{}},
		{"float8", pgtype.Float8OID, -41.2865, validText("-41.2865")},
		{"bool true", pgtype.BoolOID, true, validText("true")},
		{"bool false", pgtype.BoolOID, false, validText("false")},
		{"bytea", pgtype.ByteaOID, []byte{0, 1, 0xfe}, validText(`\x0001fe`)},
		{"empty bytea is not NULL", pgtype.ByteaOID, []byte{}, validText(`\x`)},
		{"nil bytea", pgtype.ByteaOID, []byte(nil), sql.NullString{}},
		{"nil", pgtype.TextOID, nil, sql.NullString{}},
		{"text array", pgtype.TextArrayOID, []string{"a", `q"uo\te`, "x,y", "{z}", " ", ""}, validText(`{a,"q\"uo\\te","x,y","{z}"," ",""}`)},
		{"empty text array", pgtype.TextArrayOID, []string{}, validText("{}")},
		{"nil text array", pgtype.TextArrayOID, []string(nil), validText("{}")},
	}
	conn, err := db.writePool.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn().PgConn()
		for _, c := range cases {
			enc := new(paramEncoder)
			if err := enc.encode([]uint32{c.oid}, []any{c.arg}); err != nil {
				t.Errorf("%s: encode: %v", c.name, err)
				continue
			}
			rr := pc.ExecParams(context.Background(), "SELECT $1::text", enc.vals, []uint32{c.oid}, enc.formats, nil)
			var got sql.NullString
			for rr.NextRow() {
				if v := rr.Values()[0]; v != nil {
					got = validText(string(v))
				}
			}
			if _, err := rr.Close(); err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if got != c.want {
				t.Errorf("%s: PostgreSQL read %+v, want %+v", c.name, got, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		oid uint32
		arg any
	}{
		{pgtype.Int8OID, "1"},
		{pgtype.TextOID, int64(1)},
		{pgtype.Int4OID, int64(1)},
		{pgtype.TextOID, 1.5},
		{pgtype.TextOID, struct{}{}},
	}
	for _, r := range refused {
		if err := new(paramEncoder).encode([]uint32{r.oid}, []any{r.arg}); !errors.Is(err, errUnencodable) {
			t.Errorf("encode(%T for OID %d) = %v, want errUnencodable", r.arg, r.oid, err)
		}
	}
	if err := new(paramEncoder).encode([]uint32{pgtype.TextOID}, nil); !errors.Is(err, errUnencodable) {
		t.Errorf("encode with fewer arguments than parameters = %v, want errUnencodable", err)
	}
}

func validText(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

// TestDirectInsertAfterLostConnection terminates the writer's PostgreSQL
// backend between tracks. The pool must drop the dead connection and the
// writer go on with another: after an idle second (the pool checks such a
// connection before handing it out) the next track succeeds; right after
// the loss, a track may fail (its statement may have been sent, its outcome
// is unknown), but the one after it succeeds.
func TestDirectInsertAfterLostConnection(t *testing.T) {
	if os.Getenv(postgresEnv) == "" {
		t.Skip(postgresEnv + " is not set: PostgreSQL is needed")
	}
	db := openPostgres(t, Options{Writers: 1})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	track := func(user string) error {
		_, _, err := s.CreateAction(ctx, newAction(user, "pay", "", "h"), nil)
		return err
	}
	if err := NewActionConfigService(db).CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	if err := track("u0"); err != nil {
		t.Fatal(err)
	}
	terminate := func() {
		t.Helper()
		var pid int
		if err := db.writePool.QueryRowContext(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		var done bool
		if err := db.read.QueryRowContext(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&done); err != nil || !done {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, done, err)
		}
	}

	terminate()
	time.Sleep(1100 * time.Millisecond)
	if err := track("u1"); err != nil {
		t.Errorf("track after the writer's connection was lost and the pool idle for a second: %v", err)
	}

	terminate()
	first := track("u2")
	if err := track("u3"); err != nil {
		t.Errorf("second track right after the writer's connection was lost (the first: %v): %v", first, err)
	}
	if _, err := NewUserService(db).FindUserByID(ctx, "u3"); err != nil {
		t.Errorf("the second track's user: %v", err)
	}
}
