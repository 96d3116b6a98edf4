package sqlstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// gcmCipher is a minimal AES-256-GCM vigil.Cipher for tests: nonce ||
// ciphertext.
type gcmCipher struct{ aead cipher.AEAD }

func newTestCipher(t testing.TB) *gcmCipher {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmCipher{aead}
}

func (c *gcmCipher) Seal(plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, plaintext, ad), nil
}

func (c *gcmCipher) Open(ciphertext, ad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("ciphertext too short")
	}
	return c.aead.Open(nil, ciphertext[:n], ciphertext[n:], ad)
}

// opener opens a fresh, migrated, empty DB for one test and closes it in
// Cleanup.
type opener func(t testing.TB, opts Options) *DB

type testDialect struct {
	name string
	open opener
}

const postgresEnv = "VIGIL_TEST_POSTGRES_URL"

// testDialects returns SQLite always and PostgreSQL when
// VIGIL_TEST_POSTGRES_URL is set.
func testDialects(t testing.TB) []testDialect {
	ds := []testDialect{{"sqlite", openSQLite}}
	if os.Getenv(postgresEnv) != "" {
		ds = append(ds, testDialect{"postgres", openPostgres})
	}
	return ds
}

func fillOptions(t testing.TB, opts Options) Options {
	if opts.Cipher == nil {
		opts.Cipher = newTestCipher(t)
	}
	return opts
}

// rawSQLite opens an unmigrated SQLite DB in a temporary directory.
func rawSQLite(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "data", "vigil.db"), fillOptions(t, opts))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLite(t testing.TB, opts Options) *DB {
	t.Helper()
	db := rawSQLite(t, opts)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func rawPostgres(t testing.TB, opts Options) *DB {
	t.Helper()
	u := testenv.PostgresSchemaURL(t, "vigil_test")
	db, err := Open(context.Background(), u, fillOptions(t, opts))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB, opts Options) *DB {
	t.Helper()
	db := rawPostgres(t, opts)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// mustTenant creates a tenant and returns a context scoped to it.
func mustTenant(t testing.TB, db *DB, id string) context.Context {
	t.Helper()
	ctx := context.Background()
	if err := NewTenantService(db).CreateTenant(ctx, &vigil.Tenant{ID: id, Name: "Tenant " + id}, nil); err != nil {
		t.Fatalf("CreateTenant(%q): %v", id, err)
	}
	return vigil.NewContextWithTenant(ctx, id)
}

// wantCode fails unless err carries the vigil error code want ("" for nil).
func wantCode(t testing.TB, what string, err error, want string) {
	t.Helper()
	if got := vigil.ErrorCode(err); got != want {
		t.Errorf("%s error = %v (code %q), want code %q", what, err, got, want)
	}
}

// holdWriter occupies the group-commit writer until the returned release
// is called, so that the writes queued meanwhile land in one batch. release
// lets the writer go and waits for the holding op's batch to commit. The
// holding op may run more than once (PostgreSQL replays a failed batch op by
// op), so it signals only once.
func holdWriter(t *testing.T, ctx context.Context, db *DB) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	blocker, err := db.enqueue(ctx, func(tx *Tx) error {
		once.Do(func() { close(started) })
		<-unblock
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	return func() {
		t.Helper()
		close(unblock)
		if err := blocker.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
