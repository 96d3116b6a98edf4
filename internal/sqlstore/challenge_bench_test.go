package sqlstore

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// BenchmarkCreateChallengeParallel measures sending a code (CreateChallenge
// with a send limit, as POST /v1/challenge does) from 64 concurrent
// goroutines, each call acknowledged only after a durable commit. Each
// challenge has its own action and destination, so every limit check
// passes. It reports ops/s and the p50 and p99 latency of one call.
//
//	go test -run '^$' -bench CreateChallenge -benchtime 5s ./internal/sqlstore/
//
// The PostgreSQL run needs VIGIL_TEST_POSTGRES_URL.
//
// postgres-analyzed first creates 2,000 challenges and runs ANALYZE, so
// that the planner has statistics (the other runs start from an empty,
// never analyzed table, as a new deployment does, and as every table does
// where autovacuum is off).
func BenchmarkCreateChallengeParallel(b *testing.B) {
	ds := benchDialects(b)
	if ds[1].name == "postgres" && os.Getenv(postgresEnv) != "" {
		ds = append(ds, testDialect{"postgres-analyzed", func(t testing.TB, opts Options) *DB {
			db := openPostgres(t, opts)
			_, err := db.writePool.Exec(`INSERT INTO challenges (` + challengeCols + `)
				SELECT 'bench', 'pre-' || g, '', 'signIn', 'pre-' || g, 'EMAIL_OTP', 'enroll', '',
				'pre-' || g || '@example.com', '\x00', NULL, NULL, NULL, 0, 'pending', g, g + 600000000, NULL
				FROM generate_series(1, 2000) AS g`)
			if err == nil {
				_, err = db.writePool.Exec(`ANALYZE challenges`)
			}
			if err != nil {
				t.Fatal(err)
			}
			return db
		}})
	}
	for _, d := range ds {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b, Options{})
			ctx := mustTenant(b, db, "bench")
			cs := NewChallengeService(db)
			limit := vigil.SendLimit{Max: 5, Window: 10 * time.Minute}
			var seq atomic.Int64
			runParallelTimed(b, func() error {
				i := seq.Add(1)
				c := &vigil.Challenge{
					Action: vigil.ActionRef{ActionCode: "signIn", IdempotencyKey: fmt.Sprintf("key-%d-%d", b.N, i)},
					Method: vigil.MethodEmailOTP, Purpose: vigil.PurposeEnroll,
					Destination: fmt.Sprintf("user-%d-%d@example.com", b.N, i),
					CodeHash:    []byte("0123456789abcdef0123456789abcdef"),
				}
				return cs.CreateChallenge(ctx, c, limit)
			})
		})
	}
}

// BenchmarkMarkVerifiedParallel measures the write of a server-side code
// check (MarkVerified, as POST /v1/verify does with the right code) from 64
// concurrent goroutines, each challenge verified once. The challenges are
// created beforehand, untimed.
func BenchmarkMarkVerifiedParallel(b *testing.B) {
	for _, d := range benchDialects(b) {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b, Options{})
			ctx := mustTenant(b, db, "bench")
			cs := NewChallengeService(db)
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = newID()
			}
			const chunk = 1000
			for start := 0; start < len(ids); start += chunk {
				part := ids[start:min(start+chunk, len(ids))]
				err := db.write(ctx, func(tx *Tx) error {
					now := micros(tx.now)
					for _, id := range part {
						if _, err := tx.exec(cs.insert, "bench", id, "", "signIn", id, string(vigil.MethodEmailOTP),
							string(vigil.PurposeEnroll), "", id+"@example.com", []byte("hash"), nil, nil, nil,
							0, string(vigil.ChallengePending), now, now+int64(time.Hour/time.Microsecond), nil); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			runParallelTimed(b, func() error {
				i := seq.Add(1) - 1
				ok, err := cs.MarkVerified(ctx, ids[i])
				if err == nil && !ok {
					err = fmt.Errorf("MarkVerified(%s) = false, want true", ids[i])
				}
				return err
			})
		})
	}
}

// benchDialects is testDialects, with a skipped PostgreSQL sub-benchmark
// naming the variable when it is not set.
func benchDialects(b *testing.B) []testDialect {
	ds := testDialects(b)
	if len(ds) == 1 {
		ds = append(ds, testDialect{"postgres", func(t testing.TB, _ Options) *DB {
			t.Skipf("set %s to run the PostgreSQL benchmarks", postgresEnv)
			return nil
		}})
	}
	return ds
}

// runParallelTimed calls op b.N times from 64 goroutines (32 per CPU on the
// 2-core target) and reports ops/s and the p50 and p99 latency of one call.
func runParallelTimed(b *testing.B, op func() error) {
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
