package sqlstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// statsKeeper keeps planner statistics of Vigil's tables current on
// PostgreSQL. Without statistics the planner guesses, and a plan made while
// a table was small is kept by every prepared statement: a velocity scan
// then read a tenant's whole recent history through the wrong index
// (milliseconds per track at tens of thousands of actions). PostgreSQL
// re-plans prepared statements when a table's statistics change, so an
// ANALYZE repairs them.
//
// Every statsInterval it analyzes the tables of the current schema that
// autovacuum would: more than 50 rows plus 10 % of the table changed since
// their last analysis. With autovacuum on (PostgreSQL's default) it does so
// only while a table is young (under youngTableRows live rows) and has
// grown or shrunk by as much since it was last analyzed: autovacuum wakes
// once a minute (autovacuum_naptime), and a fresh deployment under load
// would run that first minute on plans made for empty tables. Updates that
// leave a table's size alone are left to autovacuum: every track of a user
// whose history is cached updates the user's row (its history version), so
// a deployment of fewer than youngTableRows users would otherwise have its
// users analyzed every second under load (about 0.15 s of PostgreSQL's CPU
// each time, and every plan over users made again). Past youngTableRows,
// autovacuum's own analyses keep the plans right and the keeper leaves the
// table to it. With autovacuum off the keeper stands in for it on any
// table, but as autovacuum would: at most once every matureInterval per
// table, unless a young table grew.
type statsKeeper struct {
	db     *DB
	all    bool            // autovacuum is off: every table, not only young ones
	young  int64           // youngTableRows, but for tests
	mature time.Duration   // matureInterval, but for tests
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	done   chan struct{}
}

// statsInterval is short because the plans that matter are made early: a
// table that grows from empty changes by a tenth within a second under
// load, and until it is analyzed every batched risk read kept a plan made
// for empty tables (a sequential scan of users, a tenant's recent actions
// scanned for each user). With 5 s, PostgreSQL tracks with rules made 4,100-4,500
// requests/s over a 10 s run from an empty database; with 1 s, 6,100-6,500.
// A round that finds nothing to do is one query of the statistics views.
const statsInterval = time.Second

// youngTableRows is the size up to which the keeper analyzes a table even
// when autovacuum is on.
const youngTableRows = 100_000

// matureInterval is how often, at most, the keeper analyzes a table past
// youngTableRows when autovacuum is off: autovacuum's own pace
// (autovacuum_naptime). Such a table's statistics move slowly, and under
// load it changes by a tenth every few seconds: each ANALYZE of actions
// took 40 ms of the server's CPU, four times in four seconds of consuming
// validations.
const matureInterval = time.Minute

// startStatsKeeper starts the keeper.
func (db *DB) startStatsKeeper(ctx context.Context) *statsKeeper {
	var av string
	if err := db.read.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&av); err != nil {
		db.logger.Warn("sqlstore: cannot read autovacuum's setting; Vigil analyzes only young tables", "err", err)
	}
	k := &statsKeeper{db: db, all: av == "off", young: youngTableRows, mature: matureInterval, done: make(chan struct{})}
	if k.all {
		db.logger.Info("sqlstore: PostgreSQL autovacuum is off; Vigil analyzes its own tables when they change")
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	go k.run()
	return k
}

func (k *statsKeeper) run() {
	defer close(k.done)
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
			k.analyze()
		}
	}
}

// analyze runs ANALYZE on each table that changed enough.
func (k *statsKeeper) analyze() {
	ctx, cancel := context.WithTimeout(k.ctx, time.Minute)
	defer cancel()
	tables, err := k.changedTables(ctx)
	if err != nil {
		k.db.logger.Warn("sqlstore: statistics check failed", "err", err)
		return
	}
	for _, t := range tables {
		start := time.Now()
		if _, err := k.db.read.ExecContext(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize()); err != nil {
			k.db.logger.Warn("sqlstore: analyze failed", "table", t, "err", err)
			continue
		}
		k.db.logger.Debug("sqlstore: analyzed", "table", t, "took", time.Since(start))
	}
}

// changedTables returns the tables of the current schema that changed by
// more than autovacuum's analyze threshold since their last analysis: of
// them the young ones whose size changed as much since (reltuples is the
// size the last analysis saw; -1 before any), and if k.all the others not
// analyzed within k.mature.
func (k *statsKeeper) changedTables(ctx context.Context) ([]string, error) {
	rows, err := k.db.read.QueryContext(ctx, `SELECT s.relname FROM pg_stat_user_tables AS s
		JOIN pg_class AS c ON c.oid = s.relid
		WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 50 + 0.1 * s.n_live_tup
		AND ((s.n_live_tup < $2 AND (c.reltuples < 0 OR abs(s.n_live_tup - c.reltuples) > 50 + 0.1 * c.reltuples))
			OR ($1 AND COALESCE(GREATEST(s.last_analyze, s.last_autoanalyze), '-infinity')
			< now() - make_interval(secs => $3)))`, k.all, k.young, k.mature.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}

// close stops the keeper and waits for it.
func (k *statsKeeper) close() {
	k.cancel()
	<-k.done
}
