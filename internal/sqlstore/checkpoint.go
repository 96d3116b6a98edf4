package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// WAL checkpointing on SQLite.
//
// By default SQLite checkpoints inside the commit that pushes the WAL past
// 1000 pages, so every few batches the writer, the serial bottleneck of
// group commit, would also copy pages into the database file and fsync it.
// Instead the writer runs with wal_autocheckpoint=0 and a checkpointer
// goroutine runs PASSIVE checkpoints on its own connection, concurrently
// with the writer's next batches.
//
// A PASSIVE checkpoint copies only the frames committed when it starts, and
// the WAL is rewound to its start only by a write transaction that begins
// after a checkpoint has copied every frame. Under steady load the
// checkpointer therefore never catches up on its own, so the writer
// finishes the job: it counts the frames it appends, and once the WAL holds
// more than walSoftFrames it runs a PASSIVE checkpoint itself between two
// batches, when no frame can arrive meanwhile; that checkpoint copies only
// what the checkpointer has not yet copied, and the next batch rewinds the
// WAL. A reader still on an older snapshot can keep the rewind from
// happening; past walHardFrames the writer uses RESTART, which waits for
// such readers (they are single statements) under busy_timeout.
//
// The writer does not wait for a checkpoint the checkpointer is running
// (it tries again after its next batch), except past walHardFrames.
//
// The WAL file thus stays near walSoftFrames pages plus a few batches
// (64 MiB with the default 4 KiB page), and at most about walHardFrames
// pages (256 MiB). The limit is a trade: a longer WAL means fewer
// checkpoints by the writer, the serial path (at 4,096 frames, about 10 %
// of its time under a track load; at 16,384, with the writer not waiting,
// 1-3 %), and fewer copies of pages that many batches rewrite (the tail of
// the actions table, its indexes' hot leaves). A rewound WAL is
// overwritten in place, which also spares each commit's fsync the work of
// extending the file.
const (
	walSoftFrames = 16384
	walHardFrames = 4 * walSoftFrames

	// checkpointInterval is the shortest time between two background
	// checkpoints: each fsyncs the database file, and a longer interval
	// lets one copy of a page stand for several frames of it.
	checkpointInterval = 100 * time.Millisecond
)

// checkpointer runs background WAL checkpoints on SQLite. committed and
// close are safe for concurrent use; afterCommit is for the writer
// goroutine only.
type checkpointer struct {
	conn *sql.DB // one connection, used only for checkpoints

	// softFrames and hardFrames are walSoftFrames and walHardFrames; tests
	// lower them before the first write.
	softFrames, hardFrames int64

	mu sync.Mutex // held while a checkpoint runs on either connection

	// frames is the writer's count of the frames in the WAL: those it has
	// appended since it last completed a checkpoint, or more if the
	// checkpointer has since seen more (a rewind that did not happen).
	frames int64
	// seen is the WAL size the checkpointer last saw, or -1 once the
	// writer has taken it into account.
	seen atomic.Int64

	kick chan struct{} // buffered(1): a commit happened since the last run
	stop chan struct{} // closed by close
	done chan struct{} // closed when run returns
}

func newCheckpointer(conn *sql.DB) *checkpointer {
	c := &checkpointer{
		conn:       conn,
		softFrames: walSoftFrames,
		hardFrames: walHardFrames,
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.seen.Store(-1)
	go c.run()
	return c
}

// committed wakes the checkpointer; it does not block.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		if log, _, ok := c.checkpoint(context.Background(), c.conn, "PASSIVE"); ok {
			c.seen.Store(log)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// checkpoint runs one checkpoint of the given mode on db (a pool whose
// only connection is free) and returns the number of frames in the WAL and
// whether all of them are now in the database file. ok is false when the
// checkpoint failed or could not start; that is left for the next one
// (until one succeeds the WAL only grows).
func (c *checkpointer) checkpoint(ctx context.Context, db *sql.DB, mode string) (log int64, complete, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkpointLocked(ctx, db, mode)
}

// checkpointLocked is checkpoint with c.mu held.
func (c *checkpointer) checkpointLocked(ctx context.Context, db *sql.DB, mode string) (log int64, complete, ok bool) {
	var busy, copied int64
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &copied); err != nil || log < 0 {
		return 0, false, false
	}
	return log, busy == 0 && copied == log, true
}

// afterCommit runs on the writer goroutine between batches, with the
// writer's connection free: it counts the frames the batch appended, wakes
// the checkpointer, and completes a checkpoint on the writer's connection
// when the WAL has grown past its bound (see the comment at the top of
// this file).
func (c *checkpointer) afterCommit(write *sql.DB) {
	ctx := context.Background()
	if n, err := pagesWritten(ctx, write); err == nil {
		c.frames += n
	}
	if seen := c.seen.Swap(-1); seen > c.frames {
		c.frames = seen
	}
	mode := ""
	switch {
	case c.frames > c.hardFrames:
		mode = "RESTART"
	case c.frames > c.softFrames:
		mode = "PASSIVE"
	}
	// Past the soft limit the writer does not wait for a checkpoint the
	// checkpointer is running: that one is copying the frames, and the
	// writer's own, after a later batch, then has little left to copy.
	switch {
	case mode == "RESTART":
		c.mu.Lock()
	case mode == "PASSIVE" && c.mu.TryLock():
	default:
		mode = ""
	}
	if mode != "" {
		log, complete, ok := c.checkpointLocked(ctx, write, mode)
		c.mu.Unlock()
		if ok && complete {
			c.frames = 0 // the writer's next transaction rewinds the WAL
		} else if ok {
			c.frames = log
		}
	}
	c.committed()
}

// pagesWritten returns the number of pages the pool's only connection has
// written (to the WAL) since the last call.
func pagesWritten(ctx context.Context, db *sql.DB) (int64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return errors.New("sqlstore: the SQLite driver has no db_status")
		}
		n, _, err = st.Status(sqlite.DBStatusCacheWrite, true)
		return err
	})
	return int64(n), err
}

// close stops the checkpointer and closes its connection. Closing the
// writer's connection afterwards checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.conn.Close()
}
