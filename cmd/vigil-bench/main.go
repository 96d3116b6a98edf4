// Command vigil-bench drives a running Vigil server (or the vigil-floor
// measuring program) with Server API load over loopback HTTP and prints the
// requests per second and the latency percentiles it saw.
//
// It opens exactly -c keep-alive connections and runs one worker per
// connection, each sending its next request as soon as the last one is
// answered, for -warmup (not counted) and then -d (counted), or until -n
// requests. Modes:
//
//   - track: POST /users/{userId}/actions/{action} with a realistic body.
//   - validate: an untimed setup tracks -setup actions, then the timed phase
//     validates their tokens round-robin. Those actions are not
//     CHALLENGE_SUCCEEDED, so this measures validate's read path (verify the
//     JWT, read the action). With -succeed the setup also marks every action
//     CHALLENGE_SUCCEEDED and each token is validated once, which measures
//     the write path (the first validation consumes the success); the run
//     stops when the tokens run out.
//   - mixed: like validate, but each connection alternates track and
//     validate.
//
// Requests go through one of two HTTP clients, chosen with -client: raw,
// the default, a minimal HTTP/1.1 client that runs each connection's
// requests in its worker's goroutine and allocates nothing per request (see
// rawhttp.go), so that the tool takes as little CPU as it can from the
// server it measures; or std, net/http's client, kept for comparison. Both
// time a request from sending it to having read the whole response.
//
// Only loopback targets are accepted. The exit status is non-zero when more
// than 1% of the counted requests failed.
//
// Example:
//
//	vigil-bench -url http://127.0.0.1:8080/v1 -secret "$SECRET" -mode track -c 64 -d 10s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		os.Exit(1)
	}
}

// maxErrorRate is the error rate above which a run fails.
const maxErrorRate = 0.01

// run is the whole program: it parses args, runs the load and writes the
// result to stdout (progress and notes go to stderr).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	defer b.close()
	workers := make([]*worker, cfg.conns)
	for i := range workers {
		workers[i] = newWorker(b, i)
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()

	res := &result{
		Mode:        cfg.mode,
		URL:         cfg.base,
		Measures:    describe(cfg),
		Client:      cfg.client,
		Connections: cfg.conns,
	}
	if cfg.needsTokens() {
		what := "tracking %d actions"
		if cfg.mode == "otp" {
			what = "sending %d email codes"
		}
		fmt.Fprintf(stderr, "vigil-bench: setup: "+what+" (untimed)...\n", cfg.setup)
		t0 := time.Now()
		if err := b.setup(ctx, workers); err != nil {
			return err
		}
		res.SetupActions = cfg.setup
		res.SetupSeconds = time.Since(t0).Seconds()
		fmt.Fprintf(stderr, "vigil-bench: setup: done in %.1fs\n", res.SetupSeconds)
	}

	measureStart := time.Now().Add(cfg.warmup)
	end := measureStart.Add(cfg.duration)
	loadCtx, cancel := context.WithDeadline(ctx, end.Add(grace))
	defer cancel()
	done := make(chan struct{})
	for _, w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			w.loop(ctx, loadCtx, measureStart, end)
		}()
	}
	for range workers {
		<-done
	}
	elapsed := time.Since(measureStart)
	res.fill(workers, elapsed)
	switch {
	case ctx.Err() != nil:
		res.Stopped = "interrupted"
	case b.exhausted.Load():
		res.Stopped = "tokens exhausted"
		res.TokensExhausted = true
	case cfg.maxRequests > 0 && b.issued.Load() > cfg.maxRequests:
		res.Stopped = "max requests"
	default:
		res.Stopped = "duration"
	}

	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		res.print(stdout, cfg)
	}
	if res.Requests == 0 {
		return errors.New("no request was counted: is the warmup longer than the run, or the server down?")
	}
	if res.ErrorRate > maxErrorRate {
		return fmt.Errorf("error rate %.2f%% exceeds %.0f%%", 100*res.ErrorRate, 100*maxErrorRate)
	}
	return nil
}

// actionCodeRE is the documented form of an action code.
const actionCodeRE = `^[a-zA-Z0-9_-]{1,64}$`

// parseFlags parses and checks the command line.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("vigil-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     config
		rawURL  string
		maxReqs int64
	)
	fs.StringVar(&rawURL, "url", "http://127.0.0.1:8080/v1", "Server API base `URL` (loopback only)")
	fs.StringVar(&cfg.secret, "secret", getenv("VIGIL_BENCH_SECRET"), "Server API secret (default $VIGIL_BENCH_SECRET)")
	fs.StringVar(&cfg.mode, "mode", "track", "what to send: track, validate, mixed or otp")
	fs.StringVar(&cfg.hookAddr, "hook", "127.0.0.1:8099", "otp: loopback `address` receiving the server's email.created webhooks (start vigil with --email-provider webhook --email-webhook-url http://ADDRESS/)")
	fs.IntVar(&cfg.conns, "c", 64, "concurrent keep-alive connections, one worker each")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "timed duration")
	fs.Int64Var(&maxReqs, "n", 0, "stop after this many timed requests (0: no cap)")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "untimed load before the timed phase")
	fs.IntVar(&cfg.users, "users", 10000, "distinct user IDs")
	fs.StringVar(&cfg.action, "action", "bench", "action code to track")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&cfg.keys, "keys", false, "send a fresh idempotencyKey with every track")
	fs.IntVar(&cfg.setup, "setup", 20000, "validate and mixed: actions tracked (untimed) for their tokens; otp: codes sent")
	fs.BoolVar(&cfg.succeed, "succeed", false, "validate and mixed: mark setup actions CHALLENGE_SUCCEEDED, so each validation consumes one (write path)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the load tool itself to `file`")
	fs.DurationVar(&cfg.setupTimeout, "setup-timeout", 2*time.Minute, "limit on the setup phase")
	fs.StringVar(&cfg.client, "client", "raw", "HTTP client: raw (a minimal HTTP/1.1 client, lean on CPU) or std (net/http, for comparison)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	u, err := checkLoopbackURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg.base = strings.TrimSuffix(u.String(), "/")
	cfg.maxRequests = maxReqs
	switch {
	case cfg.secret == "":
		return nil, errors.New("no secret: pass -secret or set VIGIL_BENCH_SECRET")
	case cfg.mode != "track" && cfg.mode != "validate" && cfg.mode != "mixed" && cfg.mode != "otp":
		return nil, fmt.Errorf("-mode %q: want track, validate, mixed or otp", cfg.mode)
	case cfg.client != "raw" && cfg.client != "std":
		return nil, fmt.Errorf("-client %q: want raw or std", cfg.client)
	case cfg.conns < 1 || cfg.conns > 10000:
		return nil, fmt.Errorf("-c %d: want 1 to 10000", cfg.conns)
	case cfg.duration <= 0:
		return nil, fmt.Errorf("-d %v: want a positive duration", cfg.duration)
	case cfg.warmup < 0:
		return nil, fmt.Errorf("-warmup %v: want zero or more", cfg.warmup)
	case maxReqs < 0:
		return nil, fmt.Errorf("-n %d: want zero (no cap) or more", maxReqs)
	case cfg.users < 1:
		return nil, fmt.Errorf("-users %d: want at least 1", cfg.users)
	case !regexp.MustCompile(actionCodeRE).MatchString(cfg.action):
		return nil, fmt.Errorf("-action %q: want %s", cfg.action, actionCodeRE)
	case cfg.needsTokens() && cfg.setup < 1:
		return nil, fmt.Errorf("-setup %d: want at least 1", cfg.setup)
	case cfg.succeed && !cfg.needsTokens():
		return nil, errors.New("-succeed applies to -mode validate or mixed")
	case cfg.setupTimeout <= 0:
		return nil, fmt.Errorf("-setup-timeout %v: want a positive duration", cfg.setupTimeout)
	}
	return &cfg, nil
}

// describe says what a run with cfg measures.
func describe(cfg *config) string {
	validate := "validate read path: each of the setup tokens validated round-robin; their actions are not CHALLENGE_SUCCEEDED, so the server verifies the JWT and reads the action"
	if cfg.succeed {
		validate = "validate write path (-succeed): every setup action was set to CHALLENGE_SUCCEEDED and each token is validated once, so each validation consumes one success"
	}
	switch cfg.mode {
	case "track":
		return "track: POST /users/{userId}/actions/{action}; each answer comes after the action is committed"
	case "otp":
		return "otp: POST /verify with the right code of a server-side email OTP challenge (each once); setup sent the codes with POST /challenge to this tool's webhook receiver"
	case "validate":
		return validate
	}
	return "mixed: each connection alternates track and validate (1:1); " + validate
}

// result is the outcome of a run, as printed with -json. Latencies are of
// the successful counted requests.
type result struct {
	Mode              string              `json:"mode"`
	URL               string              `json:"url"`
	Measures          string              `json:"measures"`
	Client            string              `json:"client"` // raw or std
	Connections       int                 `json:"connections"`
	DurationSeconds   float64             `json:"durationSeconds"`
	Requests          uint64              `json:"requests"`
	Errors            uint64              `json:"errors"`
	ErrorRate         float64             `json:"errorRate"`
	ErrorsByKind      map[string]uint64   `json:"errorsByKind,omitempty"`
	ErrorSample       string              `json:"errorSample,omitempty"`
	RequestsPerSecond float64             `json:"requestsPerSecond"`
	Latency           latency             `json:"latency"`
	Ops               map[string]opResult `json:"ops,omitempty"`
	SetupActions      int                 `json:"setupActions,omitempty"`
	SetupSeconds      float64             `json:"setupSeconds,omitempty"`
	TokensExhausted   bool                `json:"tokensExhausted,omitempty"`
	Stopped           string              `json:"stopped"` // duration, max requests, tokens exhausted or interrupted
}

// opResult is the share of one operation in a mixed run.
type opResult struct {
	Requests          uint64  `json:"requests"`
	Errors            uint64  `json:"errors"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	Latency           latency `json:"latency"`
}

// latency holds percentiles in milliseconds.
type latency struct {
	P50  float64 `json:"p50Ms"`
	P90  float64 `json:"p90Ms"`
	P99  float64 `json:"p99Ms"`
	P999 float64 `json:"p999Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

// latencyOf summarises h.
func latencyOf(h *histogram) latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return latency{
		P50:  ms(h.quantile(0.50)),
		P90:  ms(h.quantile(0.90)),
		P99:  ms(h.quantile(0.99)),
		P999: ms(h.quantile(0.999)),
		Max:  ms(h.maximum()),
		Mean: ms(h.mean()),
	}
}

// fill merges the workers' counts into r.
func (r *result) fill(workers []*worker, elapsed time.Duration) {
	all := newHistogram()
	per := [numOps]*histogram{newHistogram(), newHistogram()}
	var total, errs [numOps]uint64
	r.ErrorsByKind = map[string]uint64{}
	for _, w := range workers {
		for op := range numOps {
			per[op].merge(w.hist[op])
			all.merge(w.hist[op])
			total[op] += w.total[op]
			errs[op] += w.total[op] - w.hist[op].count()
		}
		for k, n := range w.errs {
			r.ErrorsByKind[k] += n
		}
		if r.ErrorSample == "" {
			r.ErrorSample = w.sample
		}
	}
	secs := elapsed.Seconds()
	r.DurationSeconds = secs
	r.Requests = total[opTrack] + total[opValidate]
	r.Errors = errs[opTrack] + errs[opValidate]
	if r.Requests > 0 {
		r.ErrorRate = float64(r.Errors) / float64(r.Requests)
	}
	r.RequestsPerSecond = float64(r.Requests) / secs
	r.Latency = latencyOf(all)
	if r.Mode == "mixed" {
		r.Ops = map[string]opResult{}
		for op := range numOps {
			r.Ops[opName(op)] = opResult{
				Requests:          total[op],
				Errors:            errs[op],
				RequestsPerSecond: float64(total[op]) / secs,
				Latency:           latencyOf(per[op]),
			}
		}
	}
}

// print writes r for a human.
func (r *result) print(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "mode:        %s  (%s)\n", r.Mode, r.URL)
	fmt.Fprintf(w, "measures:    %s\n", r.Measures)
	if r.SetupActions > 0 {
		what := "actions tracked"
		if r.Mode == "otp" {
			what = "codes sent"
		}
		fmt.Fprintf(w, "setup:       %d %s in %.1fs (untimed)\n", r.SetupActions, what, r.SetupSeconds)
	}
	fmt.Fprintf(w, "connections: %d (%s client)   warmup %v   duration %v (measured %.2fs, stopped by %s)\n",
		r.Connections, r.Client, cfg.warmup, cfg.duration, r.DurationSeconds, r.Stopped)
	fmt.Fprintf(w, "requests:    %d   errors %d (%.2f%%)\n", r.Requests, r.Errors, 100*r.ErrorRate)
	kinds := make([]string, 0, len(r.ErrorsByKind))
	for k := range r.ErrorsByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %8d  %s\n", r.ErrorsByKind[k], k)
	}
	if r.ErrorSample != "" {
		fmt.Fprintf(w, "  first transport error: %s\n", r.ErrorSample)
	}
	fmt.Fprintf(w, "throughput:  %.0f req/s\n", r.RequestsPerSecond)
	fmt.Fprintf(w, "latency:     %s\n", r.Latency)
	if r.Ops != nil {
		for op := range numOps {
			o := r.Ops[opName(op)]
			fmt.Fprintf(w, "  %-9s %d requests, %d errors, %.0f req/s; %s\n", opName(op)+":", o.Requests, o.Errors, o.RequestsPerSecond, o.Latency)
		}
	}
	if r.TokensExhausted {
		fmt.Fprintf(w, "note:        the run stopped early: all %d CHALLENGE_SUCCEEDED tokens were consumed; raise -setup to cover warmup and duration\n", r.SetupActions)
	}
}

// String formats the percentiles for the text output.
func (l latency) String() string {
	return fmt.Sprintf("p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms", l.P50, l.P90, l.P99, l.P999, l.Max)
}
