package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// BenchmarkCreateActionParallel measures track's write (CreateAction) from
// 64 concurrent goroutines (32 per CPU on the 2-core target), each call
// acknowledged only after a durable commit. It reports ops/s and the p50 and
// p99 latency of one call.
//
//	go test -run '^$' -bench CreateActionParallel -benchtime 5s ./internal/sqlstore/
func BenchmarkCreateActionParallel(b *testing.B) {
	for _, d := range testDialects(b) {
		b.Run(d.name, func(b *testing.B) { benchCreateAction(b, d.open, Options{}) })
	}
}

// BenchmarkCreateActionWriters compares PostgreSQL writer counts.
func BenchmarkCreateActionWriters(b *testing.B) {
	if len(testDialects(b)) < 2 {
		b.Skipf("set %s to run the PostgreSQL benchmarks", postgresEnv)
	}
	for _, w := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) { benchCreateAction(b, openPostgres, Options{Writers: w}) })
	}
}

// BenchmarkConsumeValidationParallel measures validate's write.
func BenchmarkConsumeValidationParallel(b *testing.B) {
	for _, d := range testDialects(b) {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b, Options{})
			ctx := mustTenant(b, db, "bench")
			s := NewActionService(db)
			const n = 2000
			for i := range n {
				a := &vigil.Action{UserID: fmt.Sprintf("u%d", i%100), Code: "signIn", IdempotencyKey: fmt.Sprintf("k%d", i),
					State: vigil.StateChallengeSucceeded}
				if _, _, err := s.CreateAction(ctx, a, nil); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1) % n
					if _, _, err := s.ConsumeValidation(ctx, fmt.Sprintf("u%d", i%100), "signIn", fmt.Sprintf("k%d", i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

func benchCreateAction(b *testing.B, open opener, opts Options) {
	db := open(b, opts)
	ctx := mustTenant(b, db, "bench")
	s := NewActionService(db)
	if err := NewActionConfigService(db).CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := seq.Add(1)
			a := &vigil.Action{
				UserID:         fmt.Sprintf("user-%d", i%5000),
				Code:           "signIn",
				IdempotencyKey: fmt.Sprintf("key-%d-%d", b.N, i),
				RequestHash:    []byte("0123456789abcdef0123456789abcdef"),
				Decision:       vigil.Decision{Outcome: vigil.OutcomeAllow, Output: json.RawMessage(`{}`)},
				Context: vigil.ActionContext{IPAddress: "192.0.2.1", UserAgent: "bench/1.0",
					DeviceID: fmt.Sprintf("device-%d", i%5000)},
				TokenIssuedAt:  time.Now(),
				TokenExpiresAt: time.Now().Add(10 * time.Minute),
			}
			t0 := time.Now()
			if _, _, err := s.CreateAction(ctx, a, nil); err != nil {
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
