package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testAuth is the Authorization header the raw clients of these tests send.
const testAuth = "Basic c2stdGVzdDo="

// newTestClient returns a raw client for base, dialling with the loopback
// dialer, closed when the test ends.
func newTestClient(t *testing.T, base string) *rawClient {
	t.Helper()
	target, err := newRawTarget(base, testAuth, loopbackDialer(), nil)
	if err != nil {
		t.Fatalf("newRawTarget(%q) = %v", base, err)
	}
	c := newRawClient(target)
	t.Cleanup(c.close)
	return c
}

// countingServer starts an httptest server for h that counts the
// connections it accepts, and calls onIdle, if not nil, with each
// connection that goes idle after a response.
func countingServer(t *testing.T, h http.Handler, onIdle func(net.Conn)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var accepted atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		switch {
		case s == http.StateNew:
			accepted.Add(1)
		case s == http.StateIdle && onIdle != nil:
			onIdle(c)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &accepted
}

// seenRequest is what a test server saw of a request.
type seenRequest struct {
	Proto, Method, Target, Host       string
	Auth, ContentType, UserAgent      string
	ContentLength                     int64
	Body                              string
	TransferEncoding, AcceptEncodings []string
}

// see records r.
func see(r *http.Request) seenRequest {
	body, _ := io.ReadAll(r.Body)
	return seenRequest{
		Proto: r.Proto, Method: r.Method, Target: r.RequestURI, Host: r.Host,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		ContentLength: r.ContentLength, Body: string(body),
		TransferEncoding: r.TransferEncoding, AcceptEncodings: r.Header.Values("Accept-Encoding"),
	}
}

func TestRawContentLength(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		reqBody    string
		status     int
		respBody   string
		wantTarget string
	}{
		{"track", http.MethodPost, "/v1/users/bench-user-1/actions/plain", `{"ipAddress":"203.0.113.1"}`, 200, `{"state":"ALLOW"}`, "/v1/users/bench-user-1/actions/plain"},
		{"patch", http.MethodPatch, "/v1/users/u/actions/a/k%2F1", `{"state":"CHALLENGE_SUCCEEDED"}`, 200, `{"state":"CHALLENGE_SUCCEEDED"}`, "/v1/users/u/actions/a/k%2F1"},
		{"query", http.MethodPost, "/v1/validate?x=1&y=%20", `{}`, 200, `{"isValid":false}`, "/v1/validate?x=1&y=%20"},
		{"fragment dropped", http.MethodPost, "/v1/validate#frag", `{}`, 200, `{}`, "/v1/validate"},
		{"empty request body", http.MethodPost, "/v1/validate", ``, 200, `{}`, "/v1/validate"},
		{"created", http.MethodPost, "/v1/x", `{}`, 201, `{"id":1}`, "/v1/x"},
		{"unauthorized", http.MethodPost, "/v1/x", `{}`, 401, `{"error":"unauthorized"}`, "/v1/x"},
		{"not found", http.MethodPost, "/v1/x", `{}`, 404, "404 page not found\n", "/v1/x"},
		{"server error", http.MethodPost, "/v1/x", `{}`, 500, `{"error":"internal_error"}`, "/v1/x"},
		{"no content", http.MethodPost, "/v1/x", `{}`, 204, ``, "/v1/x"},
		{"empty body", http.MethodPost, "/v1/x", `{}`, 200, ``, "/v1/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen seenRequest
			srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = see(r)
				w.Header().Set("Content-Length", strconv.Itoa(len(tt.respBody)))
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.respBody)
			}), nil)
			c := newTestClient(t, srv.URL+"/v1")
			var resp bytes.Buffer
			resp.WriteString("stale")
			status, err := c.do(context.Background(), tt.method, srv.URL+tt.path, []byte(tt.reqBody), &resp)
			if err != nil {
				t.Fatalf("do = %v", err)
			}
			if status != tt.status || resp.String() != tt.respBody {
				t.Errorf("do = %d %q, want %d %q", status, resp.String(), tt.status, tt.respBody)
			}
			want := seenRequest{
				Proto: "HTTP/1.1", Method: tt.method, Target: tt.wantTarget, Host: strings.TrimPrefix(srv.URL, "http://"),
				Auth: testAuth, ContentType: "application/json", UserAgent: userAgent,
				ContentLength: int64(len(tt.reqBody)), Body: tt.reqBody,
			}
			if diff := cmp.Diff(want, seen); diff != "" {
				t.Errorf("the server saw (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRawChunked(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<12) // 64 KiB: chunked without a flush too
	tests := []struct {
		name  string
		parts []string
		flush bool
	}{
		{"flushed parts", []string{`{"state":`, `"ALLOW"`, `}`}, true},
		{"large body", []string{big}, false},
		{"large flushed parts", []string{big, big[:1000], big}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, p := range tt.parts {
					io.WriteString(w, p)
					if tt.flush {
						w.(http.Flusher).Flush()
					}
				}
			}), nil)
			c := newTestClient(t, srv.URL)
			var resp bytes.Buffer
			for i := range 3 { // the connection must be left at the next response
				status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/", nil, &resp)
				if err != nil || status != 200 {
					t.Fatalf("request %d: do = %d, %v", i, status, err)
				}
				if want := strings.Join(tt.parts, ""); resp.String() != want {
					t.Fatalf("request %d: body of %d bytes, want %d", i, resp.Len(), len(want))
				}
			}
		})
	}
}

func TestRawKeepAlive(t *testing.T) {
	srv, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}), nil)
	c := newTestClient(t, srv.URL+"/v1")
	var resp bytes.Buffer
	for i := range 200 {
		path := "/v1/users/bench-user-" + strconv.Itoa(i)
		if status, err := c.do(context.Background(), http.MethodPost, srv.URL+path, []byte(`{}`), &resp); err != nil || status != 200 || resp.String() != path {
			t.Fatalf("request %d: do = %d %q, %v", i, status, resp.String(), err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the server accepted %d connections for 200 requests, want 1", n)
	}
}

func TestRawConnectionClose(t *testing.T) {
	srv, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}), nil)
	c := newTestClient(t, srv.URL)
	var resp bytes.Buffer
	for i := range 3 {
		if status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/", nil, &resp); err != nil || status != 200 || resp.String() != "bye" {
			t.Fatalf("request %d: do = %d %q, %v", i, status, resp.String(), err)
		}
		if c.conn != nil {
			t.Fatalf("request %d: the connection was kept after Connection: close", i)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("the server accepted %d connections, want 3 (one per request)", n)
	}
}

// TestRawServerClosedIdle checks that a request on a kept-alive connection
// the server has closed is sent again, once, on a new connection, so that
// the caller sees no error.
func TestRawServerClosedIdle(t *testing.T) {
	closed := make(chan struct{})
	var once sync.Once
	srv, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), func(conn net.Conn) {
		once.Do(func() { conn.Close(); close(closed) })
	})
	c := newTestClient(t, srv.URL)
	var resp bytes.Buffer
	if status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/", nil, &resp); err != nil || status != 200 {
		t.Fatalf("first request: do = %d, %v", status, err)
	}
	<-closed
	time.Sleep(10 * time.Millisecond) // let the FIN reach the client's socket
	if status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/", nil, &resp); err != nil || status != 200 || resp.String() != "ok" {
		t.Fatalf("request after the server closed the idle connection: do = %d %q, %v; want it redialled", status, resp.String(), err)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("the server accepted %d connections, want 2", n)
	}
}

// rawServer accepts loopback connections and runs serve on each, with its
// index, in a goroutine. It returns the server's URL and the number of
// connections accepted.
func rawServer(t *testing.T, serve func(i int, conn net.Conn)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(accepted.Add(1) - 1)
			wg.Go(func() {
				defer conn.Close()
				serve(i, conn)
			})
		}
	})
	return "http://" + ln.Addr().String(), &accepted
}

// readRequests reads requests from conn, calling reply after each, until
// reply returns false or the connection ends.
func readRequests(conn net.Conn, reply func(n int) bool) {
	br := bufio.NewReader(conn)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if !reply(n) {
			return
		}
	}
}

// TestRawRetriesOnce checks that a request is sent again at most once: if
// the new connection also fails, the request fails, and the next request
// works again.
func TestRawRetriesOnce(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	url, accepted := rawServer(t, func(i int, conn net.Conn) {
		readRequests(conn, func(n int) bool {
			// Connection 0 answers its first request and drops its second;
			// connection 1 drops its first; connection 2 answers.
			if i == 1 || i == 0 && n == 1 {
				return false
			}
			io.WriteString(conn, ok)
			return true
		})
	})
	c := newTestClient(t, url)
	var resp bytes.Buffer
	if status, err := c.do(context.Background(), http.MethodPost, url+"/", nil, &resp); err != nil || status != 200 {
		t.Fatalf("request 1: do = %d, %v", status, err)
	}
	_, err := c.do(context.Background(), http.MethodPost, url+"/", nil, &resp)
	if err == nil || transportKind(err) != "transport: connection reset or closed" {
		t.Fatalf("request 2: do = %v (%s), want a closed connection", err, transportKind(err))
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("after request 2 the server accepted %d connections, want 2 (one retry)", n)
	}
	if status, err := c.do(context.Background(), http.MethodPost, url+"/", nil, &resp); err != nil || status != 200 || resp.String() != "ok" {
		t.Fatalf("request 3: do = %d %q, %v", status, resp.String(), err)
	}
}

// TestRawNoRetryOnNewConnection checks that a request on a connection that
// has not yet served a response is not sent again.
func TestRawNoRetryOnNewConnection(t *testing.T) {
	url, accepted := rawServer(t, func(i int, conn net.Conn) {
		readRequests(conn, func(int) bool { return false })
	})
	c := newTestClient(t, url)
	var resp bytes.Buffer
	if _, err := c.do(context.Background(), http.MethodPost, url+"/", nil, &resp); err == nil {
		t.Fatal("do = nil, want an error")
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the server accepted %d connections, want 1", n)
	}
}

func TestRawCanned(t *testing.T) {
	tests := []struct {
		name       string
		response   string
		wantStatus int
		wantBody   string
		wantKept   bool // the connection is kept for the next request
		wantErr    string
	}{
		{name: "content length", response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantStatus: 200, wantBody: "hello", wantKept: true},
		{name: "lower-case names and bare LF", response: "HTTP/1.1 404 Not Found\ncontent-length:  3 \n\nnot", wantStatus: 404, wantBody: "not", wantKept: true},
		{name: "no reason phrase", response: "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", wantStatus: 503, wantKept: true},
		{name: "chunked with extension and trailer", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", wantStatus: 200, wantBody: "abc0123456789", wantKept: true},
		{name: "interim response", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", wantStatus: 200, wantBody: "ok", wantKept: true},
		{name: "connection close", response: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", wantStatus: 200, wantBody: "ok"},
		{name: "body to end of connection", response: "HTTP/1.1 200 OK\r\n\r\nuntil the end", wantStatus: 200, wantBody: "until the end"},
		{name: "HTTP/1.0", response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", wantStatus: 200, wantBody: "ok"},
		{name: "HTTP/1.0 keep-alive", response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", wantStatus: 200, wantBody: "ok", wantKept: true},
		{name: "no content", response: "HTTP/1.1 204 No Content\r\n\r\n", wantStatus: 204, wantKept: true},
		{name: "garbage", response: "garbage\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "HTTP/2 status line", response: "HTTP/2 200 OK\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "bad status code", response: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "header without colon", response: "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", wantErr: "malformed HTTP response"},
		{name: "bad content length", response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "conflicting content lengths", response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", wantErr: "malformed HTTP response"},
		{name: "huge content length", response: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "unsupported transfer encoding", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "bad chunk size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: "malformed HTTP response"},
		{name: "chunk without line end", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "switching protocols", response: "HTTP/1.1 101 Switching Protocols\r\n\r\n", wantErr: "malformed HTTP response"},
		{name: "truncated body", response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", wantErr: "unexpected EOF"},
		{name: "truncated header", response: "HTTP/1.1 200 OK\r\nContent-Len", wantErr: "unexpected EOF"},
		{name: "truncated chunked body", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", wantErr: "unexpected EOF"},
		{name: "header line too long", response: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", readBufferSize) + "\r\n\r\n", wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := rawServer(t, func(_ int, conn net.Conn) {
				readRequests(conn, func(int) bool {
					io.WriteString(conn, tt.response)
					return false
				})
			})
			c := newTestClient(t, url)
			var resp bytes.Buffer
			status, err := c.do(context.Background(), http.MethodPost, url+"/", []byte(`{}`), &resp)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("do = %d %q, %v; want an error containing %q", status, resp.String(), err, tt.wantErr)
				}
				if c.conn != nil {
					t.Error("the connection was kept after an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("do = %v", err)
			}
			if status != tt.wantStatus || resp.String() != tt.wantBody {
				t.Errorf("do = %d %q, want %d %q", status, resp.String(), tt.wantStatus, tt.wantBody)
			}
			if kept := c.conn != nil; kept != tt.wantKept {
				t.Errorf("connection kept = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

// TestRawMalformedCounted checks that a run against a server that answers
// with something other than HTTP counts every request as an error.
func TestRawMalformedCounted(t *testing.T) {
	url, _ := rawServer(t, func(_ int, conn net.Conn) {
		readRequests(conn, func(int) bool {
			io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n")
			return false
		})
	})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", url + "/v1", "-secret", "s", "-json", "-c", "2", "-n", "20", "-warmup", "0"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "error rate") {
		t.Fatalf("run = %v, want an error-rate error", err)
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	want := map[string]uint64{"track: transport: other": 20}
	if diff := cmp.Diff(want, res.ErrorsByKind); diff != "" || res.Requests != 20 || !strings.Contains(res.ErrorSample, "malformed HTTP response") {
		t.Errorf("requests %d, sample %q, errors by kind (-want +got):\n%s", res.Requests, res.ErrorSample, diff)
	}
}

func TestRawContextAbortsRequest(t *testing.T) {
	release := make(chan struct{})
	srv, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}), nil)
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
	tests := []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  error
		wantKind string
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, "transport: other"},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded, "transport: timeout"},
		{"done before the request", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, "transport: other"},
	}
	c := newTestClient(t, srv.URL)
	var resp bytes.Buffer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			t0 := time.Now()
			_, err := c.do(ctx, http.MethodPost, srv.URL+"/hang", nil, &resp)
			if elapsed := time.Since(t0); elapsed > 2*time.Second {
				t.Errorf("do took %v, want it aborted promptly", elapsed)
			}
			if !errors.Is(err, tt.wantErr) || transportKind(err) != tt.wantKind {
				t.Errorf("do = %v (%s), want %v (%s)", err, transportKind(err), tt.wantErr, tt.wantKind)
			}
			// The client works again with a live context.
			if status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/", nil, &resp); err != nil || status != 200 {
				t.Errorf("next request: do = %d, %v", status, err)
			}
		})
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("the server accepted %d connections, want 3 (a new one after each aborted request)", n)
	}
}

// TestRawContextEndsWhileIdle checks that a context cancelled while the
// connection is idle, as setup's is when the timed phase begins, leaves the
// connection usable with the next context.
func TestRawContextEndsWhileIdle(t *testing.T) {
	srv, accepted := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), nil)
	c := newTestClient(t, srv.URL)
	var resp bytes.Buffer
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if status, err := c.do(ctx, http.MethodPost, srv.URL+"/", nil, &resp); err != nil || status != 200 {
			t.Fatalf("context %d: do = %d, %v", i, status, err)
		}
		cancel()
		time.Sleep(10 * time.Millisecond) // let the callback set its deadline
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the server accepted %d connections, want 1", n)
	}
}

func TestDeadlineFor(t *testing.T) {
	now := time.Now()
	soon, cancel := context.WithDeadline(context.Background(), now.Add(time.Second))
	defer cancel()
	late, cancel2 := context.WithDeadline(context.Background(), now.Add(time.Hour))
	defer cancel2()
	tests := []struct {
		name   string
		ctx    context.Context
		set    time.Time // the deadline already on the connection
		lo, hi time.Time // the range the result must be in
	}{
		{"context deadline", soon, time.Time{}, now.Add(time.Second), now.Add(time.Second)},
		{"no context deadline", context.Background(), time.Time{}, now.Add(requestTimeout), now.Add(requestTimeout + time.Second)},
		{"late context deadline", late, time.Time{}, now.Add(requestTimeout), now.Add(requestTimeout + time.Second)},
		{"recent deadline kept", late, now.Add(requestTimeout - deadlineSlack/2), now.Add(requestTimeout - deadlineSlack/2), now.Add(requestTimeout - deadlineSlack/2)},
		{"stale deadline renewed", late, now.Add(requestTimeout - 2*deadlineSlack), now.Add(requestTimeout), now.Add(requestTimeout + time.Second)},
	}
	for _, tt := range tests {
		c := &rawClient{deadline: tt.set}
		if got := c.deadlineFor(tt.ctx); got.Before(tt.lo) || got.After(tt.hi) {
			t.Errorf("%s: deadlineFor = %v from now, want %v to %v", tt.name, got.Sub(now), tt.lo.Sub(now), tt.hi.Sub(now))
		}
	}
}

func TestRequestTarget(t *testing.T) {
	tests := []struct {
		base, url string
		want      string
		wantErr   bool
	}{
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/users/bench-user-7/actions/plain", "/v1/users/bench-user-7/actions/plain", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/users/u/actions/a/k-1_2.3~", "/v1/users/u/actions/a/k-1_2.3~", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/validate?a=b", "/v1/validate?a=b", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "/", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080?q", "/?q", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/a%2fb", "/v1/a%2fb", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/a b", "/v1/a%20b", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/a\"b", "/v1/a%22b", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/x#frag", "/v1/x", false},
		{"http://[::1]:8080/v1", "http://[::1]:8080/v1/x", "/v1/x", false},
		{"http://user:pw@127.0.0.1:8080/v1", "http://user:pw@127.0.0.1:8080/v1/x", "/v1/x", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:80800/v1/x", "", true},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.2:8080/v1/x", "", true},
		{"http://127.0.0.1:8080/v1", "https://127.0.0.1:8080/v1/x", "", true},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/%zz", "", true},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/a\nb", "", true},
	}
	for _, tt := range tests {
		target, err := newRawTarget(tt.base, testAuth, loopbackDialer(), nil)
		if err != nil {
			t.Fatalf("newRawTarget(%q) = %v", tt.base, err)
		}
		got, err := target.requestTarget(tt.url)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("requestTarget(%q) on %s = %q, %v; want %q, error %v", tt.url, tt.base, got, err, tt.want, tt.wantErr)
		}
		if req, err := http.NewRequest(http.MethodPost, tt.url, nil); err == nil && !tt.wantErr && req.URL.RequestURI() != tt.want {
			t.Errorf("net/http would send %q for %q, the raw client %q", req.URL.RequestURI(), tt.url, tt.want)
		}
	}
}

func TestNewRawTarget(t *testing.T) {
	tests := []struct {
		base                   string
		origin, host, addr     string
		tls                    bool
		serverName, nextProtos string
	}{
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080", false, "", ""},
		{"http://localhost/v1", "http://localhost", "localhost", "localhost:80", false, "", ""},
		{"https://localhost/v1", "https://localhost", "localhost", "localhost:443", true, "localhost", "http/1.1"},
		{"http://[::1]:8181", "http://[::1]:8181", "[::1]:8181", "[::1]:8181", false, "", ""},
	}
	for _, tt := range tests {
		target, err := newRawTarget(tt.base, testAuth, loopbackDialer(), nil)
		if err != nil {
			t.Fatalf("newRawTarget(%q) = %v", tt.base, err)
		}
		if target.origin != tt.origin || target.host != tt.host || target.addr != tt.addr || (target.tls != nil) != tt.tls {
			t.Errorf("newRawTarget(%q) = origin %q host %q addr %q tls %v, want %q %q %q %v", tt.base, target.origin, target.host, target.addr, target.tls != nil, tt.origin, tt.host, tt.addr, tt.tls)
		}
		if target.tls != nil && (target.tls.ServerName != tt.serverName || strings.Join(target.tls.NextProtos, ",") != tt.nextProtos) {
			t.Errorf("newRawTarget(%q): TLS server name %q, protocols %q", tt.base, target.tls.ServerName, target.tls.NextProtos)
		}
	}
}

func TestRawTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	target, err := newRawTarget(srv.URL+"/v1", testAuth, loopbackDialer(), tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	c := newRawClient(target)
	t.Cleanup(c.close)
	var resp bytes.Buffer
	for range 2 {
		if status, err := c.do(context.Background(), http.MethodPost, srv.URL+"/v1/x", nil, &resp); err != nil || status != 200 || resp.String() != "HTTP/1.1 /v1/x" {
			t.Fatalf("do = %d %q, %v", status, resp.String(), err)
		}
	}
}

func TestRawRefusesNonLoopback(t *testing.T) {
	c := newTestClient(t, "http://localhost:1/v1")
	c.t.addr = "192.0.2.1:80" // as if localhost resolved off the machine
	var resp bytes.Buffer
	_, err := c.do(context.Background(), http.MethodPost, "http://localhost:1/v1/x", nil, &resp)
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("do = %v, want a non-loopback refusal", err)
	}
}

// TestRawNoAllocs checks that a request in the steady state allocates
// nothing, against a server that allocates nothing either.
func TestRawNoAllocs(t *testing.T) {
	const response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"state\":\"ALLOW\"}"
	body := []byte(`{"ipAddress":"203.0.113.9"}`)
	var reqLen atomic.Int64
	url, _ := rawServer(t, func(_ int, conn net.Conn) {
		buf := make([]byte, 4096)
		resp := []byte(response)
		for {
			if _, err := io.ReadFull(conn, buf[:reqLen.Load()]); err != nil {
				return
			}
			if _, err := conn.Write(resp); err != nil {
				return
			}
		}
	})
	c := newTestClient(t, url+"/v1")
	reqURL := url + "/v1/users/bench-user-1/actions/plain"
	reqLen.Store(int64(len(c.t.appendRequest(nil, http.MethodPost, "/v1/users/bench-user-1/actions/plain", body))))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var resp bytes.Buffer
	do := func() {
		if status, err := c.do(ctx, http.MethodPost, reqURL, body, &resp); err != nil || status != 200 {
			t.Fatalf("do = %d, %v", status, err)
		}
	}
	do()
	if n := testing.AllocsPerRun(1000, do); n != 0 {
		t.Errorf("a request allocates %v times, want 0", n)
	}
}

func TestRunClients(t *testing.T) {
	for _, client := range []string{"raw", "std"} {
		for _, mode := range []string{"track", "mixed"} {
			t.Run(client+" "+mode, func(t *testing.T) {
				_, srv := newFakeVigil(t, "sk-test")
				res, err := runJSON(t, srv, "-client", client, "-mode", mode, "-setup", "20", "-d", "200ms")
				if err != nil {
					t.Fatalf("run = %v", err)
				}
				if res.Client != client || res.Requests == 0 || res.Errors != 0 {
					t.Errorf("client %q, %d requests, %d errors (%v); want %q, some requests, no errors", res.Client, res.Requests, res.Errors, res.ErrorsByKind, client)
				}
			})
		}
	}
}

func TestRunRejectsUnknownClient(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-secret", "s", "-client", "fasthttp"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-client") {
		t.Fatalf("run = %v, want an error about -client", err)
	}
}
