package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/vigil-auth/vigil/internal/testenv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testStores yields a SQLite store always and a PostgreSQL one when
// VIGIL_TEST_POSTGRES_URL is set (in a table dropped afterwards).
func testStores(t *testing.T, f func(t *testing.T, st *store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, _, err := openStore(context.Background(), storeOptions{
			dsn: "sqlite:" + filepath.Join(t.TempDir(), "floor.db"), table: "floor_actions", writers: 1, readers: 4, maxBatch: 64,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.close(false) })
		f(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.PostgresURL(t)
		table := fmt.Sprintf("floor_test_%d", time.Now().UnixNano())
		st, _, err := openStore(context.Background(), storeOptions{dsn: dsn, table: table, writers: 2, readers: 4, maxBatch: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.close(true) })
		f(t, st)
	})
}

func TestFloor(t *testing.T) {
	testStores(t, func(t *testing.T, st *store) {
		srv := httptest.NewServer(newServer(st, "sk-floor", bytes.Repeat([]byte{7}, 32), "http://floor.test").handler())
		t.Cleanup(srv.Close)
		c := &client{t: t, base: srv.URL + "/v1", secret: "sk-floor"}

		t.Run("Unauthorized", func(t *testing.T) {
			bad := &client{t: t, base: c.base, secret: "wrong"}
			status, body := bad.do("POST", "/users/u1/actions/signIn", `{}`)
			if status != http.StatusUnauthorized || string(body) != unauthorizedBody {
				t.Errorf("got %d %s, want 401 with the contract body", status, body)
			}
		})

		var tr trackResponse
		t.Run("Track", func(t *testing.T) {
			c.json("POST", "/users/u1/actions/signIn", `{"ipAddress":"203.0.113.1","deviceId":"d1","custom":{"amount":5}}`, http.StatusOK, &tr)
			if tr.State != "ALLOW" || tr.IsEnrolled || tr.IdempotencyKey == "" || strings.Count(tr.Token, ".") != 2 || !strings.Contains(tr.URL, "?") {
				t.Errorf("track = %+v", tr)
			}
		})

		t.Run("ValidateReadPath", func(t *testing.T) {
			var got validateResponse
			c.json("POST", "/validate", `{"token":"`+tr.Token+`"}`, http.StatusOK, &got)
			want := validateResponse{State: "ALLOW", UserID: "u1", Action: "signIn", ActionCode: "signIn", IdempotencyKey: tr.IdempotencyKey}
			got.StateUpdatedAt = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("validate (-want +got):\n%s", diff)
			}
		})

		t.Run("ValidateConsumesSuccess", func(t *testing.T) {
			var upd map[string]string
			c.json("PATCH", "/users/u1/actions/signIn/"+tr.IdempotencyKey, `{"state":"CHALLENGE_SUCCEEDED"}`, http.StatusOK, &upd)
			if upd["state"] != "CHALLENGE_SUCCEEDED" {
				t.Fatalf("update = %v", upd)
			}
			var first, second validateResponse
			c.json("POST", "/validate", `{"token":"`+tr.Token+`","userId":"u1"}`, http.StatusOK, &first)
			c.json("POST", "/validate", `{"token":"`+tr.Token+`"}`, http.StatusOK, &second)
			if !first.IsValid || second.IsValid || second.State != "CHALLENGE_SUCCEEDED" {
				t.Errorf("first isValid = %v, replay isValid = %v (state %q), want true then false", first.IsValid, second.IsValid, second.State)
			}
		})

		t.Run("BadTokens", func(t *testing.T) {
			// Change one signature character to a different one (a fixed
			// replacement would sometimes equal the original).
			sig := strings.LastIndexByte(tr.Token, '.') + 1
			repl := byte('A')
			if tr.Token[sig] == 'A' {
				repl = 'B'
			}
			tampered := tr.Token[:sig] + string(repl) + tr.Token[sig+1:]
			other := newServer(st, "x", bytes.Repeat([]byte{8}, 32), "http://floor.test")
			foreign, _ := other.sign(&claims{TenantID: tenantID, Subject: "u1", Action: "signIn", Key: tr.IdempotencyKey, ExpiresAt: time.Now().Add(time.Hour).Unix()})
			for _, tok := range []string{"garbage", tampered, foreign, "eyJhbGciOiJub25lIn0.e30."} {
				var got validateResponse
				c.json("POST", "/validate", `{"token":"`+tok+`"}`, http.StatusOK, &got)
				if got.IsValid || got.State != "" {
					t.Errorf("validate(%q) = %+v, want isValid false and nothing else", tok, got)
				}
			}
			var got validateResponse
			c.json("POST", "/validate", `{"token":"`+tr.Token+`","userId":"someone-else"}`, http.StatusOK, &got)
			if got.IsValid || got.State != "" {
				t.Errorf("validate with another userId = %+v, want isValid false", got)
			}
		})

		t.Run("IdempotentReplay", func(t *testing.T) {
			var a, b trackResponse
			c.json("POST", "/users/u2/actions/signIn", `{"idempotencyKey":"k-replay"}`, http.StatusOK, &a)
			c.json("POST", "/users/u2/actions/signIn", `{"idempotencyKey":"k-replay"}`, http.StatusOK, &b)
			if a.IdempotencyKey != "k-replay" || b.IdempotencyKey != "k-replay" {
				t.Errorf("keys = %q, %q, want k-replay twice", a.IdempotencyKey, b.IdempotencyKey)
			}
		})

		t.Run("BadInput", func(t *testing.T) {
			if status, _ := c.do("POST", "/users/u1/actions/bad%20code", `{}`); status != http.StatusBadRequest {
				t.Errorf("bad action code: got %d, want 400", status)
			}
			if status, _ := c.do("POST", "/users/u1/actions/signIn", `{"custom":`); status != http.StatusBadRequest {
				t.Errorf("malformed JSON: got %d, want 400", status)
			}
			if status, _ := c.do("POST", "/users/u1/actions/signIn", `{"custom":"`+strings.Repeat("x", 1<<20)+`"}`); status != http.StatusRequestEntityTooLarge {
				t.Errorf("oversized body: got %d, want 413", status)
			}
			if status, _ := c.do("PATCH", "/users/u1/actions/signIn/no-such-key", `{"state":"BLOCK"}`); status != http.StatusNotFound {
				t.Errorf("update of a missing action: got %d, want 404", status)
			}
		})

		t.Run("ConcurrentTracksGroupCommit", func(t *testing.T) {
			const n = 300
			var wg sync.WaitGroup
			errs := make(chan string, n)
			for i := range n {
				wg.Go(func() {
					status, body := c.do("POST", fmt.Sprintf("/users/c%d/actions/pay", i%17), `{"idempotencyKey":"conc-`+fmt.Sprint(i)+`"}`)
					if status != http.StatusOK {
						errs <- fmt.Sprintf("%d %s", status, body)
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			var count int
			if err := st.r.QueryRow("SELECT count(*) FROM " + st.table + " WHERE idempotency_key LIKE 'conc-%'").Scan(&count); err != nil || count != n {
				t.Errorf("rows = %d (%v), want %d", count, err, n)
			}
		})
	})
}

// TestRun starts the program through run on a free port, tracks once, and
// stops it through the context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", "sqlite:" + filepath.Join(t.TempDir(), "f.db"), "-drop"},
			func(k string) string {
				if k == "VIGIL_FLOOR_SECRET" {
					return "sk-run"
				}
				return ""
			}, out, io.Discard)
	}()
	re := regexp.MustCompile(`listening on (http://\S+/v1)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no listening line in %q", out.String())
	}
	c := &client{t: t, base: base, secret: "sk-run"}
	var tr trackResponse
	c.json("POST", "/users/u/actions/signIn", `{}`, http.StatusOK, &tr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "0.0.0.0:8090", "-db", "sqlite:x.db", "-secret", "s"}, getenvTest, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("run = %v, want a loopback error", err)
	}
}

// client is a tiny Server API client for the tests.
type client struct {
	t            *testing.T
	base, secret string
}

func (c *client) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.secret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, b
}

func (c *client) json(method, path, body string, wantStatus int, v any) {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != wantStatus {
		c.t.Fatalf("%s %s: got %d %s, want %d", method, path, status, b, wantStatus)
	}
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getenvTest(k string) string { return os.Getenv(k) }
