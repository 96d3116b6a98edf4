package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The otp mode measures the round trip of a server-side email OTP
// verification (POST /verify with the right code), which issue 4 requires
// to be no slower than a track. Setup sends the codes with POST /challenge;
// the server delivers them as email.created webhooks to a receiver this
// tool runs on a loopback address.

// codeBook holds the codes the webhook receiver got, by recipient.
type codeBook struct {
	mu    sync.Mutex
	codes map[string]string
}

func (c *codeBook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		Type string `json:"type"`
		Data struct {
			To   string `json:"to"`
			Code string `json:"code"`
		} `json:"data"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&ev); err != nil || ev.Data.Code == "" {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.codes[ev.Data.To] = ev.Data.Code
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (c *codeBook) take(to string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	code, ok := c.codes[to]
	delete(c.codes, to)
	return code, ok
}

// setupOTP starts cfg.setup server-side challenges, each to its own address,
// and keeps their IDs and codes.
func (b *bench) setupOTP(ctx context.Context, workers []*worker) error {
	host, _, err := net.SplitHostPort(b.cfg.hookAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-hook %q: want a loopback address", b.cfg.hookAddr)
	}
	ln, err := net.Listen("tcp", b.cfg.hookAddr)
	if err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	book := &codeBook{codes: map[string]string{}}
	srv := &http.Server{Handler: book, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	k := b.cfg.setup
	b.tokens = make([]setupToken, k)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.setupTimeout)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= k {
					return
				}
				email := "bench-" + b.runID + "-" + strconv.Itoa(i) + "@example.com"
				body := []byte(`{"verificationMethod":"EMAIL_OTP","action":"` + b.cfg.action + `","email":"` + email + `"}`)
				status, err := w.do(ctx, http.MethodPost, b.cfg.base+"/challenge", body)
				var reply struct {
					ChallengeID string `json:"challengeId"`
				}
				if err == nil && status == http.StatusOK {
					err = json.Unmarshal(w.resp.Bytes(), &reply)
				} else if err == nil {
					err = fmt.Errorf("POST /challenge: status %d: %s", status, w.resp.Bytes())
				}
				code, ok := book.take(email)
				if err == nil && (!ok || reply.ChallengeID == "") {
					err = errors.New("no code was delivered to the webhook receiver (is vigil started with --email-provider webhook --email-webhook-url http://" + b.cfg.hookAddr + "/ ?)")
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("setup: %w", err); cancel() })
					return
				}
				b.tokens[i] = setupToken{challengeID: reply.ChallengeID, code: code}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// verifyOTP verifies one challenge with its code: success is a 200 with
// isVerified true.
func (w *worker) verifyOTP(ctx context.Context, tok *setupToken) (string, error) {
	b := append(w.body[:0], `{"challengeId":"`...)
	b = append(b, tok.challengeID...)
	b = append(b, `","verificationCode":"`...)
	b = append(b, tok.code...)
	b = append(b, `"}`...)
	w.body = b
	status, err := w.do(ctx, http.MethodPost, w.b.cfg.base+"/verify", b)
	if err != nil {
		return transportKind(err), err
	}
	if status != http.StatusOK {
		return "status " + strconv.Itoa(status), nil
	}
	var reply struct {
		IsVerified bool `json:"isVerified"`
	}
	if err := json.Unmarshal(w.resp.Bytes(), &reply); err != nil || !reply.IsVerified {
		return "verify: isVerified is not true", nil
	}
	return "", nil
}
