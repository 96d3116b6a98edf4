package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The raw client (-client raw, the default) is a minimal HTTP/1.1 client
// for the timed loop. net/http's Transport runs two goroutines per
// connection and hands every request and response between them over
// channels; on a 2-core machine that cost the tool 13-24% of the CPU the
// server under test should have had. The raw client instead does one
// request at a time on one connection, in the worker's own goroutine: the
// request is built in a reused buffer and sent with one Write, and the
// response is read with a reused bufio.Reader straight into the worker's
// response buffer. In the steady state it allocates nothing.
//
// It speaks only what the Server API needs: a request with a JSON body, and
// a response with a Content-Length, chunked or read-to-close body.

const (
	// requestTimeout bounds one request, as http.Client.Timeout does for
	// -client std.
	requestTimeout = time.Minute
	// deadlineSlack is how far the connection's deadline may lag behind
	// requestTimeout from now before it is set again, so that a run longer
	// than requestTimeout does not pay for a SetDeadline per request.
	deadlineSlack = time.Second
	// maxBody is the largest response body the raw client reads.
	maxBody = 64 << 20
	// readBufferSize is the size of a connection's read buffer, which also
	// bounds the length of a status or header line.
	readBufferSize = 8 << 10
	// userAgent is the User-Agent net/http sends, sent too by the raw
	// client so that the server sees the same requests with either client.
	userAgent = "Go-http-client/1.1"
)

// aLongTimeAgo is a deadline in the past, set on a connection to interrupt
// the I/O in progress on it.
var aLongTimeAgo = time.Unix(1, 0)

// dialFunc dials a network address, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// rawTarget is the server the raw clients send to, parsed once from the
// base URL and shared, read-only, by all workers.
type rawTarget struct {
	origin string      // scheme://authority, as the callers' URLs begin
	scheme string      // http or https
	host   string      // the Host header: the URL's host[:port]
	addr   string      // host:port to dial
	auth   string      // the Authorization header value
	dial   dialFunc    // loopbackDialer() outside tests
	tls    *tls.Config // nil for http
}

// newRawTarget returns the target for the base URL base (as checked by
// checkLoopbackURL). tlsConfig, used only for https, may be nil for the
// default verification of the server's certificate.
func newRawTarget(base, auth string, dial dialFunc, tlsConfig *tls.Config) (*rawTarget, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("raw client: base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("raw client: base URL %q: want http or https with a host", base)
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	t := &rawTarget{
		origin: originOf(base),
		scheme: u.Scheme,
		host:   u.Host,
		addr:   net.JoinHostPort(u.Hostname(), port),
		auth:   auth,
		dial:   dial,
	}
	if u.Scheme == "https" {
		t.tls = tlsConfigFor(tlsConfig, u.Hostname())
	}
	return t, nil
}

// originOf returns the scheme and authority that begin rawURL: everything
// before the path, query or fragment.
func originOf(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return rawURL
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rawURL[:len(rawURL)-len(rest)+i]
	}
	return rawURL
}

// tlsConfigFor returns a copy of cfg (or a new config) that verifies the
// server as serverName and offers only HTTP/1.1.
func tlsConfigFor(cfg *tls.Config, serverName string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// requestTarget returns the request target (path and query) of rawURL,
// which must be on t's origin. A URL whose path and query net/http would
// send as written, as every URL this tool builds is, is cut without
// allocating; any other is parsed with net/url and sent as net/http would.
func (t *rawTarget) requestTarget(rawURL string) (string, error) {
	if rest, ok := strings.CutPrefix(rawURL, t.origin); ok {
		if rest == "" {
			return "/", nil
		}
		if rest[0] == '/' && sentAsWritten(rest) {
			return rest, nil
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != t.scheme || u.Host != t.host {
		return "", fmt.Errorf("raw client: %q is not on %s", rawURL, t.origin)
	}
	return u.RequestURI(), nil
}

// sentAsWritten reports whether net/http would send the path and query s as
// they are: a path of unreserved characters, sub-delimiters, ':', '@', '/'
// and valid %XX escapes, then an optional query of visible ASCII, and no
// fragment.
func sentAsWritten(s string) bool {
	i := 0
	for ; i < len(s) && s[i] != '?'; i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// rawClient is one worker's connection to a rawTarget. It is used by that
// worker's goroutine only, except for the fields under mu, which the
// cancellation callback of the watched context also touches.
type rawClient struct {
	t        *rawTarget
	br       *bufio.Reader // reads conn; reused across connections
	req      []byte        // the request being sent
	served   int           // responses read on conn
	deadline time.Time     // the deadline set on conn; zero: none or unknown

	watched   context.Context // the context whose cancellation interrupts conn
	stopWatch func() bool     // stops the callback registered on watched

	mu          sync.Mutex // guards the fields below
	conn        net.Conn   // nil when not connected; read without mu by the worker
	gen         uint64     // the generation of the watched context
	interrupted bool       // the watched context was cancelled: conn's deadline is in the past
}

// newRawClient returns a client for t; it connects on its first request.
func newRawClient(t *rawTarget) *rawClient {
	return &rawClient{
		t:   t,
		br:  bufio.NewReaderSize(nil, readBufferSize),
		req: make([]byte, 0, 1024),
	}
}

// do sends one request and reads the whole response into body, returning
// its status code. A request on a kept-alive connection that fails before
// any of the response arrives, because the server had closed the
// connection, is sent once more on a new connection. Errors are
// *url.Error, as from net/http, with the context's error once it is done.
func (c *rawClient) do(ctx context.Context, method, rawURL string, body []byte, resp *bytes.Buffer) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, requestError(method, rawURL, err)
	}
	target, err := c.t.requestTarget(rawURL)
	if err != nil {
		return 0, requestError(method, rawURL, err)
	}
	c.watch(ctx)
	c.req = c.t.appendRequest(c.req[:0], method, target, body)
	for retried := false; ; retried = true {
		reused := c.conn != nil && c.served > 0
		status, received, err := c.exchange(ctx, resp)
		if err == nil {
			return status, nil
		}
		c.closeConn()
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			return 0, requestError(method, rawURL, ctxErr)
		}
		if retried || !reused || received || !isConnLost(err) {
			return 0, requestError(method, rawURL, err)
		}
	}
}

// contextError returns the error of ctx if the failure err is due to it:
// ctx is done, or err is the connection's deadline, which is ctx's, firing
// just before ctx's own timer.
func contextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// requestError wraps err as net/http reports a failed request.
func requestError(method, rawURL string, err error) error {
	return &url.Error{Op: method[:1] + strings.ToLower(method[1:]), URL: rawURL, Err: err}
}

// isConnLost reports whether err says that the server closed or reset the
// connection.
func isConnLost(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// appendRequest appends the request line, headers and body of one request
// to b.
func (t *rawTarget) appendRequest(b []byte, method, target string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: "+userAgent+"\r\nAuthorization: "...)
	b = append(b, t.auth...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// exchange sends c.req and reads the response into body. received reports
// whether any of the response had arrived when an error occurred.
func (c *rawClient) exchange(ctx context.Context, body *bytes.Buffer) (status int, received bool, err error) {
	if err := c.connect(ctx); err != nil {
		return 0, false, err
	}
	if err := c.arm(ctx); err != nil {
		return 0, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, fmt.Errorf("write request: %w", err)
	}
	if _, err := c.br.Peek(1); err != nil {
		return 0, false, fmt.Errorf("read response: %w", err)
	}
	h, err := c.readHeader()
	if err != nil {
		return 0, true, err
	}
	if err := c.readBody(&h, body); err != nil {
		return 0, true, err
	}
	c.served++
	if h.close {
		c.closeConn()
	}
	return h.status, true, nil
}

// connect dials the target unless c is connected.
func (c *rawClient) connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	conn, err := c.t.dial(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(conn, c.t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	c.br.Reset(conn)
	c.served = 0
	c.deadline = time.Time{}
	return nil
}

// closeConn closes the connection, if any; the next request dials anew.
func (c *rawClient) closeConn() {
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// close closes the connection and stops watching the last context.
func (c *rawClient) close() {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.closeConn()
}

// watch makes the cancellation of ctx interrupt the request in flight, by a
// callback that sets a past deadline on the connection. The callback is
// registered once per context, not per request: the workers share their
// context, and registering costs an allocation and its lock. (ctx must be
// comparable, as the standard library's contexts are.)
func (c *rawClient) watch(ctx context.Context) {
	if ctx == c.watched {
		return
	}
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.mu.Lock()
	c.gen++
	gen := c.gen
	if c.interrupted {
		// The last context's callback poisoned the connection's deadline.
		c.interrupted = false
		c.deadline = time.Time{}
	}
	c.mu.Unlock()
	c.watched = ctx
	c.stopWatch = context.AfterFunc(ctx, func() { c.interrupt(gen) })
}

// interrupt sets a past deadline on the connection, failing the I/O in
// progress, unless the context of generation gen is no longer watched.
func (c *rawClient) interrupt(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.interrupted = true
	if c.conn != nil {
		c.conn.SetDeadline(aLongTimeAgo)
	}
}

// arm sets the connection's deadline for a request under ctx, then checks
// ctx: in that order, a cancellation either is seen here or comes later and
// reaches the connection through interrupt.
func (c *rawClient) arm(ctx context.Context) error {
	if dl := c.deadlineFor(ctx); !dl.Equal(c.deadline) {
		if err := c.conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
		c.deadline = dl
	}
	return ctx.Err()
}

// deadlineFor returns the deadline of a request starting now: the
// context's, or requestTimeout from now if that is sooner. A deadline
// already set within deadlineSlack of the latter is kept.
func (c *rawClient) deadlineFor(ctx context.Context) time.Time {
	limit := time.Now().Add(requestTimeout)
	if dl, ok := ctx.Deadline(); ok && !dl.After(limit) {
		return dl
	}
	if !c.deadline.After(limit) && c.deadline.After(limit.Add(-deadlineSlack)) {
		return c.deadline
	}
	return limit
}

// respHeader is what the raw client uses of a response's header.
type respHeader struct {
	status    int
	length    int64 // Content-Length, or -1
	chunked   bool  // Transfer-Encoding: chunked
	close     bool  // the server closes the connection after this response
	keepAlive bool  // Connection: keep-alive, for an HTTP/1.0 response
}

// errMalformed is wrapped by the errors about a response that is not
// HTTP/1.x.
var errMalformed = errors.New("malformed HTTP response")

// readHeader reads the status line and header of a response, skipping
// interim (1xx) responses.
func (c *rawClient) readHeader() (respHeader, error) {
	for {
		h, err := c.readOneHeader()
		if err != nil || h.status >= 200 {
			return h, err
		}
		if h.status == 101 {
			return h, fmt.Errorf("%w: unexpected 101 Switching Protocols", errMalformed)
		}
	}
}

// readOneHeader reads one status line and the header fields after it.
func (c *rawClient) readOneHeader() (respHeader, error) {
	h := respHeader{length: -1}
	line, err := c.readLine()
	if err != nil {
		return h, fmt.Errorf("read status line: %w", err)
	}
	http10, err := parseStatusLine(line, &h)
	if err != nil {
		return h, err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return h, fmt.Errorf("read header: %w", err)
		}
		if len(line) == 0 {
			break
		}
		if err := h.addField(line); err != nil {
			return h, err
		}
	}
	if http10 && !h.keepAlive {
		h.close = true
	}
	return h, nil
}

// readLine returns the next line without its line ending. The line is only
// valid until the next read.
func (c *rawClient) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w: a line longer than %d bytes", errMalformed, readBufferSize)
	case errors.Is(err, io.EOF) && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatusLine parses a status line such as "HTTP/1.1 200 OK" into h and
// reports whether it is HTTP/1.0.
func parseStatusLine(line []byte, h *respHeader) (http10 bool, err error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[7] != '0' && line[7] != '1' ||
		line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status := 0
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return false, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = status*10 + int(d-'0')
	}
	if status < 100 {
		return false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	h.status = status
	return line[7] == '0', nil
}

// addField records the header field line in h if the client uses it.
func (h *respHeader) addField(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
		return fmt.Errorf("%w: header line %q", errMalformed, line)
	}
	value = bytes.Trim(value, " \t")
	switch {
	case bytes.EqualFold(name, []byte("content-length")):
		n, ok := parseLength(value)
		if !ok || h.length >= 0 && h.length != n {
			return fmt.Errorf("%w: Content-Length %q", errMalformed, value)
		}
		h.length = n
	case bytes.EqualFold(name, []byte("transfer-encoding")):
		if !bytes.EqualFold(value, []byte("chunked")) {
			return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errMalformed, value)
		}
		h.chunked = true
	case bytes.EqualFold(name, []byte("connection")):
		for tok := range bytes.SplitSeq(value, []byte(",")) {
			tok = bytes.Trim(tok, " \t")
			h.close = h.close || bytes.EqualFold(tok, []byte("close"))
			h.keepAlive = h.keepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
		}
	}
	return nil
}

// parseLength parses a Content-Length value: decimal digits, at most
// maxBody.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
		if n > maxBody {
			return 0, false
		}
	}
	return n, true
}

// readBody reads the body the header h announces into body, replacing its
// contents. A body delimited by the end of the connection marks h close.
func (c *rawClient) readBody(h *respHeader, body *bytes.Buffer) error {
	body.Reset()
	switch {
	case h.status == 204 || h.status == 304:
		return nil
	case h.chunked:
		if h.length >= 0 {
			h.close = true // both framings: distrust the connection after it
		}
		return c.readChunked(body)
	case h.length >= 0:
		return c.readN(body, int(h.length))
	}
	h.close = true
	return c.readToEOF(body)
}

// readN appends the next n bytes to body.
func (c *rawClient) readN(body *bytes.Buffer, n int) error {
	body.Grow(n)
	buf := body.AvailableBuffer()[:n]
	if _, err := io.ReadFull(c.br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read body: %w", err)
	}
	body.Write(buf)
	return nil
}

// readChunked appends a chunked body to body, skipping any trailer.
func (c *rawClient) readChunked(body *bytes.Buffer) error {
	for {
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("read chunk size: %w", err)
		}
		size, ok := parseChunkSize(line)
		if !ok || body.Len()+size > maxBody {
			return fmt.Errorf("%w: chunk size line %q", errMalformed, line)
		}
		if size == 0 {
			break
		}
		if err := c.readN(body, size); err != nil {
			return err
		}
		if line, err := c.readLine(); err != nil || len(line) != 0 {
			return fmt.Errorf("%w: no line end after a chunk (%v)", errMalformed, err)
		}
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return fmt.Errorf("read trailer: %w", err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// parseChunkSize parses the hexadecimal size that begins a chunk size line,
// up to any chunk extension; sizes above maxBody are refused.
func parseChunkSize(line []byte) (int, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 {
		return 0, false
	}
	n := 0
	for _, d := range line {
		var v byte
		switch {
		case '0' <= d && d <= '9':
			v = d - '0'
		case 'a' <= d && d <= 'f':
			v = d - 'a' + 10
		case 'A' <= d && d <= 'F':
			v = d - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int(v)
		if n > maxBody {
			return 0, false
		}
	}
	return n, true
}

// readToEOF appends the rest of the connection to body, up to maxBody.
func (c *rawClient) readToEOF(body *bytes.Buffer) error {
	if _, err := body.ReadFrom(io.LimitReader(c.br, maxBody+1)); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if body.Len() > maxBody {
		return fmt.Errorf("%w: body longer than %d bytes", errMalformed, maxBody)
	}
	return nil
}
