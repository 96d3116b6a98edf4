package risk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// benchRules is the rule set of scripts/bench.sh: 10 rules of 2-4
// conditions over data points of every kind, one membership test in a
// 100,000-item value list and one CIDR test.
var benchRules = []string{
	`{"and": [{"==": [{"var": "device.isNew"}, true]}, {"in": [{"var": "ip.location.country.countryCode"}, ["NZ", "AU"]]}]}`,
	`{"and": [{"==": [{"var": "ip.isAnonymous"}, true]}, {">": [{"var": "custom.amount"}, 1000]}]}`,
	`{"and": [{"<": [{"var": "user.accountAgeDays"}, 7]}, {">=": [{"var": "action.countLastHour"}, 5]}, {"==": [{"var": "user.isEnrolled"}, false]}]}`,
	`{"or": [{"==": [{"var": "ip.countryCodeInOfacList"}, true]}, {"==": [{"var": "ip.impossibleTravel"}, true]}]}`,
	`{"and": [{"!=": [{"var": "user.hasPreviouslyVerified"}, true]}, {"in": [{"var": "user.email"}, {"var": "valueLists.blocked-emails"}]}]}`,
	`{"and": [{"cidr": [{"var": "ip.address"}, ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]]}, {"==": [{"var": "device.isBot"}, false]}]}`,
	`{"and": [{">=": [{"var": "user.failedChallengesLastHour"}, 3]}, {"<=": [0, {"var": "time.hourOfDay"}, 5]}, {"!": {"var": "device.isRemembered"}}]}`,
	`{"and": [{">": [{"var": "user.distinctIpsLastDay"}, 4]}, {"in": [{"var": "device.browser"}, ["Tor Browser", "HeadlessChrome", "PhantomJS"]]}]}`,
	`{"and": [{">": [{"var": "custom.amount"}, 50]}, {"==": [{"var": "device.isNew"}, true]}, {"!": {"var": "user.hasPreviouslyVerified"}}, {"<": [{"var": "user.accountAgeDays"}, 30]}]}`,
	`{"and": [{"==": [{"var": "ip.location.country.countryCode"}, "NZ"]}, {">": [{"var": "action.countLastDay"}, 20]}]}`,
}

var benchRuleTypes = []vigil.Outcome{vigil.OutcomeChallenge, vigil.OutcomeReview, vigil.OutcomeChallenge, vigil.OutcomeBlock,
	vigil.OutcomeBlock, vigil.OutcomeAllow, vigil.OutcomeChallenge, vigil.OutcomeBlock, vigil.OutcomeReview, vigil.OutcomeChallenge}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// BenchmarkTrackRules tracks through the whole pipeline in process (no
// HTTP) over SQLite, and over PostgreSQL when VIGIL_TEST_POSTGRES_URL is
// set: the rule set of scripts/bench.sh, 10,000 users, from
// 64 goroutines, so that the writer group-commits and the history cache
// warms as under load. ns/op is wall time per track over all goroutines;
// to compare two versions, run each with -count 10 and compare with
// benchstat. (The HTTP load tool, cmd/vigil-bench, measures the server.)
func BenchmarkTrackRules(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkTrackRules(b, filepath.Join(b.TempDir(), "vigil.db"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkTrackRules(b, testenv.PostgresSchemaURL(b, "vigil_bench"))
	})
}

func benchmarkTrackRules(b *testing.B, dbURL string) {
	s := openServer(b, dbURL, newBox(b), wallClock{})
	ctx := vigil.NewContextWithTenant(context.Background(), "t1")
	if err := sqlstore.NewTenantService(s.db).CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		b.Fatal(err)
	}
	if err := s.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "bench", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		b.Fatal(err)
	}
	items := make([]string, 100000)
	for i := range items {
		items[i] = fmt.Sprintf("blocked-%d@example.com", i)
	}
	raw, err := json.Marshal(items)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.lists.CreateValueList(ctx, &vigil.ValueList{Alias: "blocked-emails", Name: "Blocked emails",
		ItemType: vigil.ValueListString, Items: raw}); err != nil {
		b.Fatal(err)
	}
	for i, cond := range benchRules {
		if err := s.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "bench", ID: fmt.Sprintf("r%d", i), Name: fmt.Sprintf("r%d", i),
			IsActive: true, Priority: i, Type: benchRuleTypes[i], Conditions: json.RawMessage(cond)}); err != nil {
			b.Fatal(err)
		}
	}
	const users = 10000
	var next atomic.Int64
	input := func(n int64) *vigil.TrackInput {
		u := n * 7919 % users // every user in turn, in a scattered order
		return &vigil.TrackInput{UserID: fmt.Sprintf("bench-user-%d", u), ActionCode: "bench", Context: vigil.ActionContext{
			IPAddress: fmt.Sprintf("203.0.113.%d", n%250+1), DeviceID: fmt.Sprintf("dev-%d", u%3),
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			Custom:    json.RawMessage(`{"amount":` + strings.Repeat("9", int(n%3)+1) + `}`)}}
	}
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.svc.Track(ctx, input(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
