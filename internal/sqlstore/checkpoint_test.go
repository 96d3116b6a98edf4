package sqlstore

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestWALBounded writes far more pages than the (lowered) WAL bound
// under concurrent load, which never leaves the writer idle, and checks
// that the checkpointer and the writer keep rewinding the WAL.
func TestWALBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few thousand actions")
	}
	const soft, hard = 64, 256
	db := openSQLite(t, Options{})
	db.ckpt.softFrames, db.ckpt.hardFrames = soft, hard
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	walPath := walFile(t, db)

	var mu sync.Mutex
	var maxWAL int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				a := newAction(fmt.Sprintf("u%d-%d", g, i%40), "signIn", fmt.Sprintf("k%d-%d", g, i), "h")
				if _, _, err := s.CreateAction(ctx, a, nil); err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(walPath); err == nil {
					mu.Lock()
					maxWAL = max(maxWAL, fi.Size())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()

	var pageSize int64
	if err := db.read.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	// The WAL passes the soft bound by at most one batch (16 ops here)
	// before the writer checkpoints; without checkpoints, 2400 actions of
	// three or more pages each would make a WAL of over 7000 frames.
	frames := (maxWAL - 32) / (pageSize + 24)
	if frames > hard {
		t.Errorf("WAL grew to %d frames, want at most %d", frames, hard)
	}
}

// walFile returns the path of the SQLite WAL file of db.
func walFile(t *testing.T, db *DB) string {
	t.Helper()
	var seq int
	var name, file string
	if err := db.read.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file + "-wal"
}
