package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// grace is how long requests still in flight at the end of the timed phase
// may take before they are cancelled and counted as errors.
const grace = 5 * time.Second

// The operations a run sends.
const (
	opTrack = iota
	opValidate
	numOps
)

// opName returns the name of an operation as printed in results.
func opName(op int) string {
	if op == opTrack {
		return "track"
	}
	return "validate" // or, in otp mode, verify
}

// config is the parsed command line.
type config struct {
	base         string // the Server API base URL without a trailing slash, e.g. http://127.0.0.1:8080/v1
	secret       string
	mode         string // track, validate or mixed
	conns        int
	duration     time.Duration
	maxRequests  int64 // 0: no cap
	warmup       time.Duration
	users        int
	action       string
	keys         bool
	jsonOut      bool
	setup        int // actions tracked before a validate or mixed run
	succeed      bool
	setupTimeout time.Duration
	cpuProfile   string // file for a CPU profile of this tool, or ""
	client       string // raw (rawClient) or std (net/http)
	hookAddr     string // otp: where the server's webhooks are received
}

// needsTokens reports whether the mode validates tokens, so that a setup
// phase must first track actions to get them.
func (c *config) needsTokens() bool { return c.mode != "track" }

// setupToken is an action tracked during setup, whose token the timed phase
// validates.
type setupToken struct {
	user  int
	key   string
	token string
	// otp: a server-side challenge and its code.
	challengeID, code string
}

// bench holds what the workers of one run share. Its atomic counters are the
// only state the workers write concurrently.
type bench struct {
	cfg         *config
	client      *http.Client // -client std; nil with raw
	raw         *rawTarget   // -client raw; nil with std
	auth        string       // the Authorization header value
	runID       string       // makes -keys idempotency keys unique across runs
	usersURL    string       // base + "/users/"
	actionSeg   string       // "/actions/" + escaped action code
	validateURL string
	tokens      []setupToken // written only during setup

	nextToken atomic.Int64 // index of the next token to validate
	issued    atomic.Int64 // timed requests started, for -n
	exhausted atomic.Bool  // -succeed ran out of tokens
}

// newBench returns a bench for cfg: with -client raw, the target each
// worker's raw client connects to; with -client std, one net/http client
// whose transport keeps exactly cfg.conns keep-alive connections to the
// server.
func newBench(cfg *config) (*bench, error) {
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	b := &bench{
		cfg:         cfg,
		auth:        "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.secret+":")),
		runID:       hex.EncodeToString(id),
		usersURL:    cfg.base + "/users/",
		actionSeg:   "/actions/" + url.PathEscape(cfg.action),
		validateURL: cfg.base + "/validate",
	}
	if cfg.client == "std" {
		b.client = newStdClient(cfg.conns)
		return b, nil
	}
	raw, err := newRawTarget(cfg.base, b.auth, loopbackDialer(), nil)
	if err != nil {
		return nil, err
	}
	b.raw = raw
	return b, nil
}

// newStdClient returns the net/http client of -client std, whose transport
// keeps exactly conns keep-alive connections to the server.
func newStdClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         loopbackDialer(),
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// close releases the std client's idle connections (the raw clients'
// connections are the workers').
func (b *bench) close() {
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
}

// worker is one connection's request loop. It records into its own
// histograms and error counts, which are merged after all workers stop.
type worker struct {
	b    *bench
	id   int
	raw  *rawClient // this worker's connection with -client raw, else nil
	rng  *mrand.Rand
	body []byte       // request body under construction
	resp bytes.Buffer // last response body
	seq  uint64

	hist   [numOps]*histogram // latencies of successful timed requests
	total  [numOps]uint64     // timed requests completed, errors included
	errs   map[string]uint64  // timed errors by kind
	sample string             // the first transport error's message
}

// newWorker returns worker id of b with its own random source.
func newWorker(b *bench, id int) *worker {
	w := &worker{
		b:    b,
		id:   id,
		rng:  mrand.New(mrand.NewPCG(uint64(id)+1, uint64(time.Now().UnixNano()))),
		body: make([]byte, 0, 512),
		errs: map[string]uint64{},
	}
	for op := range w.hist {
		w.hist[op] = newHistogram()
	}
	if b.raw != nil {
		w.raw = newRawClient(b.raw)
	}
	return w
}

// close closes the worker's raw client connection, if any.
func (w *worker) close() {
	if w.raw != nil {
		w.raw.close()
	}
}

// do sends one request with the selected client and reads the whole
// response into w.resp, returning its status code.
func (w *worker) do(ctx context.Context, method, url string, body []byte) (int, error) {
	if w.raw != nil {
		return w.raw.do(ctx, method, url, body, &w.resp)
	}
	return w.doStd(ctx, method, url, body)
}

// doStd is do with net/http (-client std).
func (w *worker) doStd(ctx context.Context, method, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Authorization"] = []string{w.b.auth}
	resp, err := w.b.client.Do(req)
	if err != nil {
		return 0, err
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// userID returns the user ID of user number u.
func userID(u int) string { return "bench-user-" + strconv.Itoa(u) }

// trackBody builds a realistic track body for user u in w.body: the context
// an application sends (IP, user agent, device) and one custom rule input.
func (w *worker) trackBody(u int) []byte {
	b := w.body[:0]
	b = append(b, `{"ipAddress":"203.0.113.`...)
	b = strconv.AppendInt(b, int64(u%254+1), 10)
	b = append(b, `","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15","deviceId":"dev-`...)
	b = strconv.AppendInt(b, int64(u), 10)
	b = append(b, `","custom":{"amount":`...)
	b = strconv.AppendInt(b, int64(w.rng.IntN(10000)+1), 10)
	b = append(b, '}')
	if w.b.cfg.keys {
		w.seq++
		b = append(b, `,"idempotencyKey":"bench-`...)
		b = append(b, w.b.runID...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(w.id), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, w.seq, 10)
		b = append(b, '"')
	}
	b = append(b, '}')
	w.body = b
	return b
}

// trackReply is the part of a track response the tool checks or uses.
type trackReply struct {
	State          string `json:"state"`
	Token          string `json:"token"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// track tracks one action for user u. It returns "" on success, else the
// kind of error and, for transport errors, the error itself. Success is
// status 200 with a JSON body that has a "state". reply, if not nil, gets
// the decoded response.
func (w *worker) track(ctx context.Context, u int, reply *trackReply) (string, error) {
	status, err := w.do(ctx, http.MethodPost, w.b.usersURL+userID(u)+w.b.actionSeg, w.trackBody(u))
	if err != nil {
		return transportKind(err), err
	}
	if status != http.StatusOK {
		return "status " + strconv.Itoa(status), nil
	}
	if reply == nil {
		if !hasState(w.resp.Bytes()) {
			return "track response without state", nil
		}
		return "", nil
	}
	*reply = trackReply{}
	if err := json.Unmarshal(w.resp.Bytes(), reply); err != nil || reply.State == "" {
		return "track response without state", nil
	}
	return "", nil
}

// hasState is the timed phase's check of a track response, cheaper than
// decoding it (a full decode costs this tool about a sixth of its CPU,
// which on a shared machine is taken from the server): the body is a JSON
// object with a non-empty string "state".
func hasState(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return false
	}
	_, after, ok := bytes.Cut(body, []byte(`"state":`))
	after = bytes.TrimLeft(after, " \t\r\n")
	return ok && len(after) > 2 && after[0] == '"' && after[1] != '"'
}

// validate validates one token. Success is status 200 with a JSON body that
// has "isValid", which must be true when the tokens were made to succeed.
func (w *worker) validate(ctx context.Context, tok *setupToken) (string, error) {
	b := append(w.body[:0], `{"token":"`...)
	b = append(b, tok.token...)
	b = append(b, `"}`...)
	w.body = b
	status, err := w.do(ctx, http.MethodPost, w.b.validateURL, b)
	if err != nil {
		return transportKind(err), err
	}
	if status != http.StatusOK {
		return "status " + strconv.Itoa(status), nil
	}
	valid, ok := isValidOf(w.resp.Bytes())
	if !ok {
		return "validate response without isValid", nil
	}
	if w.b.cfg.succeed && !valid {
		return "isValid false for a CHALLENGE_SUCCEEDED token", nil
	}
	return "", nil
}

// isValidOf is validate's check of its response, cheaper than decoding it
// (a full decode cost this tool about a sixth of its CPU in -mode
// validate), as hasState is for track: the body is a JSON object with a
// boolean "isValid". It returns that boolean and whether there was one.
func isValidOf(body []byte) (valid, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return false, false
	}
	_, after, found := bytes.Cut(body, []byte(`"isValid":`))
	if !found {
		return false, false
	}
	after = bytes.TrimLeft(after, " \t\r\n")
	for _, lit := range [...]string{"true", "false"} {
		if rest, ok := bytes.CutPrefix(after, []byte(lit)); ok && len(rest) > 0 && bytes.IndexByte([]byte(",} \t\r\n"), rest[0]) >= 0 {
			return lit == "true", true
		}
	}
	return false, false
}

// succeed sets the state of a setup action to CHALLENGE_SUCCEEDED, as the
// hosted page does when the user completes a challenge.
func (w *worker) succeed(ctx context.Context, tok *setupToken) (string, error) {
	u := w.b.usersURL + userID(tok.user) + w.b.actionSeg + "/" + url.PathEscape(tok.key)
	status, err := w.do(ctx, http.MethodPatch, u, []byte(`{"state":"CHALLENGE_SUCCEEDED"}`))
	if err != nil {
		return transportKind(err), err
	}
	if status != http.StatusOK {
		return "update action: status " + strconv.Itoa(status), nil
	}
	var reply trackReply
	if err := json.Unmarshal(w.resp.Bytes(), &reply); err != nil || reply.State != "CHALLENGE_SUCCEEDED" {
		return "update action: state is not CHALLENGE_SUCCEEDED in the response", nil
	}
	return "", nil
}

// transportKind classifies a transport error for the error counts.
func transportKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), os.IsTimeout(err):
		return "transport: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: connection reset or closed"
	}
	return "transport: other"
}

// setup tracks cfg.setup actions over cfg.conns connections, untimed, and
// keeps their tokens; with -succeed it also marks each action
// CHALLENGE_SUCCEEDED. It stops at the first error.
func (b *bench) setup(ctx context.Context, workers []*worker) error {
	if b.cfg.mode == "otp" {
		return b.setupOTP(ctx, workers)
	}
	k := b.cfg.setup
	b.tokens = make([]setupToken, k)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.setupTimeout)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(kind string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = fmt.Errorf("setup: %s", kind)
			if err != nil {
				firstErr = fmt.Errorf("setup: %s: %w", kind, err)
			}
		}
		cancel()
	}
	for _, w := range workers {
		wg.Go(func() {
			var reply trackReply
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= k {
					return
				}
				u := w.rng.IntN(b.cfg.users)
				if kind, err := w.track(ctx, u, &reply); kind != "" {
					fail(kind, err)
					return
				}
				if reply.Token == "" || reply.IdempotencyKey == "" {
					fail("track response without token or idempotencyKey", nil)
					return
				}
				tok := setupToken{user: u, key: reply.IdempotencyKey, token: reply.Token}
				if b.cfg.succeed {
					if kind, err := w.succeed(ctx, &tok); kind != "" {
						fail(kind, err)
						return
					}
				}
				b.tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("setup: not done within -setup-timeout %v (%d of %d actions): %w", b.cfg.setupTimeout, min(int(next.Load()), k), k, err)
	}
	return nil
}

// takeToken returns the next token to validate: round-robin on the read
// path; with -succeed each token once, and false when they have run out.
func (b *bench) takeToken() (*setupToken, bool) {
	i := b.nextToken.Add(1) - 1
	n := int64(len(b.tokens))
	if !b.cfg.succeed && b.cfg.mode != "otp" {
		return &b.tokens[i%n], true
	}
	if i >= n {
		b.exhausted.Store(true)
		return nil, false
	}
	return &b.tokens[i], true
}

// loop sends requests until end (or -n, or the tokens run out), counting
// only those started at or after measureStart. stop is the caller's context:
// once it is done (an interrupt) the request that failed is not counted.
func (w *worker) loop(stop, ctx context.Context, measureStart, end time.Time) {
	cfg := w.b.cfg
	for i := w.id; ; i++ {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if !start.Before(end) {
			return
		}
		measured := !start.Before(measureStart)
		if measured && cfg.maxRequests > 0 && w.b.issued.Add(1) > cfg.maxRequests {
			return
		}
		op := opTrack
		if cfg.mode == "validate" || cfg.mode == "otp" || (cfg.mode == "mixed" && i%2 == 1) {
			op = opValidate
		}
		var kind string
		var err error
		if op == opTrack {
			kind, err = w.track(ctx, w.rng.IntN(cfg.users), nil)
		} else {
			tok, ok := w.b.takeToken()
			if !ok {
				return
			}
			if cfg.mode == "otp" {
				kind, err = w.verifyOTP(ctx, tok)
			} else {
				kind, err = w.validate(ctx, tok)
			}
		}
		lat := time.Since(start)
		if stop.Err() != nil {
			return
		}
		if !measured {
			continue
		}
		w.total[op]++
		if kind != "" {
			w.errs[opName(op)+": "+kind]++
			if err != nil && w.sample == "" {
				w.sample = err.Error()
			}
			continue
		}
		w.hist[op].record(lat)
	}
}
