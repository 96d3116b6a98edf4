package delivery

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"html"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
)

const (
	testUser = "vigil"
	testPass = "s3cret-smtp-password"
)

// testCert returns a self-signed certificate for 127.0.0.1 and localhost,
// and the path of its PEM file.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, file
}

// received is one message accepted by the test server.
type received struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool
	Authed bool
}

// smtpOptions shape the test server.
type smtpOptions struct {
	implicitTLS bool     // TLS from the first byte instead of STARTTLS
	noTLS       bool     // offer no TLS at all
	mechs       []string // AUTH mechanisms offered; default PLAIN
	requireAuth bool     // refuse MAIL before AUTH
}

// testSMTP is a real SMTP server (go-smtp) on a loopback port.
type testSMTP struct {
	Host   string
	Port   int
	CAFile string

	mu       sync.Mutex // guards the fields below
	msgs     []received
	authSeen int // AUTH attempts, successful or not
}

func (s *testSMTP) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *testSMTP) authAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authSeen
}

// startSMTP runs a test SMTP server until the test ends.
func startSMTP(t *testing.T, opts smtpOptions) *testSMTP {
	t.Helper()
	cert, caFile := testCert(t)
	ts := &testSMTP{Host: "127.0.0.1", CAFile: caFile}
	mechs := opts.mechs
	if mechs == nil {
		mechs = []string{sasl.Plain}
	}
	be := gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &testSession{srv: ts, conn: c, mechs: mechs, requireAuth: opts.requireAuth}, nil
	})
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.AllowInsecureAuth = opts.noTLS
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up are expected here
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	if !opts.noTLS && !opts.implicitTLS {
		srv.TLSConfig = tlsConfig
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.implicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
	}
	ts.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		// Close the listener itself too: a Close that runs before Serve
		// has registered the listener would leave Serve accepting forever.
		ln.Close()
		srv.Close()
		<-done
	})
	return ts
}

type testSession struct {
	srv         *testSMTP
	conn        *gosmtp.Conn
	mechs       []string
	requireAuth bool
	authed      bool
	from        string
	to          []string
}

func (s *testSession) AuthMechanisms() []string { return s.mechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.authSeen++
	s.srv.mu.Unlock()
	check := func(user, pass string) error {
		if user != testUser || pass != testPass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *testSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.requireAuth && !s.authed {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, received{From: s.from, To: s.to, Data: data, TLS: isTLS, Authed: s.authed})
	s.srv.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check      func(user, pass string) error
	step       int
	user, pass string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if response != nil { // no initial response expected
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	}
	l.pass = string(response)
	return nil, true, l.check(l.user, l.pass)
}

// newTestSMTP returns an SMTP sender for ts with the given changes to the
// default configuration (STARTTLS, AUTH, ts's CA).
func newTestSMTP(t *testing.T, ts *testSMTP, change func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{
		Host:     ts.Host,
		Port:     ts.Port,
		Username: testUser,
		Password: testPass,
		From:     "Acme Security <no-reply@acme.test>",
		CAFile:   ts.CAFile,
		Timeout:  5 * time.Second,
	}
	if change != nil {
		change(&cfg)
	}
	s, err := NewSMTP(cfg, nil)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

// testCtx is a context that ends before the test's own timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// parsedMail is a received message, decoded with the standard library.
type parsedMail struct {
	Header      mail.Header
	Subject     string // decoded
	RawSubject  string
	TextCTE     string
	HTMLCTE     string
	Text        string
	HTML        string
	ContentType string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v\n%s", err, data)
	}
	var p parsedMail
	p.Header = msg.Header
	p.RawSubject = msg.Header.Get("Subject")
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(p.RawSubject); err != nil {
		t.Fatalf("decode subject %q: %v", p.RawSubject, err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	p.ContentType = mediaType
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("NextRawPart: %v", err)
		}
		ct, ctParams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		if ctParams["charset"] != "utf-8" {
			t.Errorf("part %s charset = %q, want utf-8", ct, ctParams["charset"])
		}
		cte := part.Header.Get("Content-Transfer-Encoding")
		var r io.Reader = part
		switch cte {
		case "quoted-printable":
			r = quotedprintable.NewReader(part)
		default:
			t.Errorf("part %s Content-Transfer-Encoding = %q, want quoted-printable", ct, cte)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read part %s: %v", ct, err)
		}
		parts = append(parts, ct)
		switch ct {
		case "text/plain":
			p.Text, p.TextCTE = string(body), cte
		case "text/html":
			p.HTML, p.HTMLCTE = string(body), cte
		}
	}
	if diff := cmp.Diff([]string{"text/plain", "text/html"}, parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	return p
}

// TestSMTPSendEachKindAndLocale sends each email kind in each built-in
// locale (and a few tags that fall back) through a real SMTP server with
// STARTTLS and AUTH PLAIN, and reads the code or link back from the parsed
// message.
func TestSMTPSendEachKindAndLocale(t *testing.T) {
	ts := startSMTP(t, smtpOptions{requireAuth: true})
	s := newTestSMTP(t, ts, nil)
	fixed := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s.now = func() time.Time { return fixed }

	locales := []struct {
		locale  string
		lang    string // the locale whose templates are used
		valid   string // how the validity reads in that language
		ignore  string // part of "if you did not request this, ignore it"
		subject map[Kind]string
	}{
		{"en", "en", "10 minutes", "you can ignore this email", map[Kind]string{
			EmailOTP: "482913 is your Acme verification code", EmailMagicLink: "Your Acme verification link"}},
		{"de", "de", "10 Minuten", "können Sie diese E-Mail ignorieren", map[Kind]string{
			EmailOTP: "482913 ist Ihr Bestätigungscode für Acme", EmailMagicLink: "Ihr Bestätigungslink für Acme"}},
		{"fr", "fr", "10 minutes", "vous pouvez ignorer cet e-mail", map[Kind]string{
			EmailOTP: "482913 est votre code de vérification Acme", EmailMagicLink: "Votre lien de vérification Acme"}},
		{"es", "es", "10 minutos", "puedes ignorar este correo", map[Kind]string{
			EmailOTP: "482913 es tu código de verificación de Acme", EmailMagicLink: "Tu enlace de verificación de Acme"}},
		{"de-AT", "de", "10 Minuten", "ignorieren", map[Kind]string{
			EmailOTP: "482913 ist Ihr Bestätigungscode für Acme", EmailMagicLink: "Ihr Bestätigungslink für Acme"}},
		{"fr_CA", "fr", "10 minutes", "ignorer", map[Kind]string{
			EmailOTP: "482913 est votre code de vérification Acme", EmailMagicLink: "Votre lien de vérification Acme"}},
		{"pt-BR", "en", "10 minutes", "ignore", map[Kind]string{
			EmailOTP: "482913 is your Acme verification code", EmailMagicLink: "Your Acme verification link"}},
		{"", "en", "10 minutes", "ignore", map[Kind]string{
			EmailOTP: "482913 is your Acme verification code", EmailMagicLink: "Your Acme verification link"}},
	}
	const link = "https://auth.acme.test/magic?token=Zm9vYmFy_-&c=1"
	n := 0
	for _, lc := range locales {
		for _, kind := range []Kind{EmailOTP, EmailMagicLink} {
			t.Run(lc.locale+"/"+kind.String(), func(t *testing.T) {
				m := &Message{
					Kind: kind, To: "ana@example.test", Code: "482913", Link: link,
					Locale: lc.locale, TenantName: "Acme", ActionCode: "signIn", UserID: "u1",
					ExpiresIn: 9*time.Minute + time.Second, // shown rounded up
				}
				if kind == EmailMagicLink {
					m.Code = ""
				}
				before := *m
				if err := s.SendEmail(testCtx(t), m); err != nil {
					t.Fatalf("SendEmail: %v", err)
				}
				if diff := cmp.Diff(before, *m); diff != "" {
					t.Errorf("SendEmail modified the message (-before +after):\n%s", diff)
				}
				n++
				msgs := ts.messages()
				if len(msgs) != n {
					t.Fatalf("server has %d messages, want %d", len(msgs), n)
				}
				got := msgs[n-1]
				if !got.TLS || !got.Authed {
					t.Errorf("TLS = %v, authenticated = %v; want both", got.TLS, got.Authed)
				}
				if got.From != "no-reply@acme.test" || !cmp.Equal(got.To, []string{"ana@example.test"}) {
					t.Errorf("envelope from %q to %q", got.From, got.To)
				}
				p := parseMail(t, got.Data)

				if p.Subject != lc.subject[kind] {
					t.Errorf("Subject = %q, want %q", p.Subject, lc.subject[kind])
				}
				ascii := strings.IndexFunc(p.Subject, func(r rune) bool { return r > 127 }) < 0
				if !ascii && !strings.HasPrefix(strings.ToLower(p.RawSubject), "=?utf-8?q?") {
					t.Errorf("raw Subject %q is not Q-encoded", p.RawSubject)
				}
				if strings.IndexFunc(p.RawSubject, func(r rune) bool { return r > 127 }) >= 0 {
					t.Errorf("raw Subject %q has non-ASCII bytes", p.RawSubject)
				}
				from, err := p.Header.AddressList("From")
				if err != nil || len(from) != 1 || from[0].Name != "Acme Security" || from[0].Address != "no-reply@acme.test" {
					t.Errorf("From = %v (%v)", from, err)
				}
				to, err := p.Header.AddressList("To")
				if err != nil || len(to) != 1 || to[0].Address != "ana@example.test" {
					t.Errorf("To = %v (%v)", to, err)
				}
				if d, err := p.Header.Date(); err != nil || !d.Equal(fixed) {
					t.Errorf("Date = %v (%v), want %v", d, err, fixed)
				}
				if id := p.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@acme.test>") {
					t.Errorf("Message-ID = %q", id)
				}
				if v := p.Header.Get("MIME-Version"); v != "1.0" {
					t.Errorf("MIME-Version = %q", v)
				}

				want := m.Code
				if kind == EmailMagicLink {
					want = link
				}
				htmlText := html.UnescapeString(p.HTML)
				for _, part := range []struct{ name, body string }{{"text", p.Text}, {"html", htmlText}} {
					for _, s := range []string{want, "Acme", lc.valid, lc.ignore} {
						if !strings.Contains(part.body, s) {
							t.Errorf("%s part lacks %q:\n%s", part.name, s, part.body)
						}
					}
				}
				if kind == EmailMagicLink && !strings.Contains(htmlText, `href="`+link+`"`) {
					t.Errorf("html part has no link to %q:\n%s", link, p.HTML)
				}
				if !strings.Contains(p.HTML, `<html lang="`+lc.lang+`">`) {
					t.Errorf("html part is not in lang %q:\n%s", lc.lang, p.HTML)
				}
			})
		}
	}
}

// TestSMTPModes covers the TLS modes and authentication mechanisms.
func TestSMTPModes(t *testing.T) {
	tests := []struct {
		name    string
		opts    smtpOptions
		change  func(*SMTPConfig)
		wantTLS bool
	}{
		{"starttls plain", smtpOptions{requireAuth: true}, nil, true},
		{"starttls login", smtpOptions{requireAuth: true, mechs: []string{sasl.Login}}, nil, true},
		{"implicit tls", smtpOptions{implicitTLS: true, requireAuth: true}, func(c *SMTPConfig) { c.TLS = TLSImplicit }, true},
		{"none without auth", smtpOptions{noTLS: true}, func(c *SMTPConfig) {
			c.TLS, c.Username, c.Password = TLSNone, "", ""
		}, false},
		{"none with auth on loopback", smtpOptions{noTLS: true, requireAuth: true}, func(c *SMTPConfig) { c.TLS = TLSNone }, false},
		{"none with login on loopback", smtpOptions{noTLS: true, requireAuth: true, mechs: []string{sasl.Login}}, func(c *SMTPConfig) { c.TLS = TLSNone }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startSMTP(t, tt.opts)
			s := newTestSMTP(t, ts, tt.change)
			m := &Message{Kind: EmailOTP, To: "ana@example.test", Code: "000111", ExpiresIn: time.Minute}
			if err := s.SendEmail(testCtx(t), m); err != nil {
				t.Fatalf("SendEmail: %v", err)
			}
			msgs := ts.messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			if msgs[0].TLS != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", msgs[0].TLS, tt.wantTLS)
			}
			p := parseMail(t, msgs[0].Data)
			if !strings.Contains(p.Text, "000111") || !strings.Contains(p.Text, "1 minute.") {
				t.Errorf("text part:\n%s", p.Text)
			}
		})
	}
}

// TestSMTPFailures checks that each failure is an ErrDelivery error that
// does not reveal the password, and that nothing is accepted.
func TestSMTPFailures(t *testing.T) {
	// A port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	// A server that accepts connections and never says anything.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn, 1)
	go func() {
		var conns []net.Conn
		defer func() { accepted <- conns }()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	})
	silentPort := silent.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name     string
		opts     smtpOptions
		change   func(*SMTPConfig)
		ctx      func(context.Context) context.Context
		wantText string // in the error
		noAuth   bool   // credentials must not have been offered
	}{
		{name: "wrong password", opts: smtpOptions{requireAuth: true}, change: func(c *SMTPConfig) { c.Password = "wrong-password" }, wantText: "auth"},
		{name: "server down", change: func(c *SMTPConfig) { c.Port = downPort }, wantText: "connect"},
		{name: "silent server times out", change: func(c *SMTPConfig) { c.Port = silentPort; c.Timeout = 300 * time.Millisecond }, wantText: "deadline exceeded"},
		{name: "caller cancels", change: func(c *SMTPConfig) { c.Port = silentPort }, ctx: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx
		}, wantText: "canceled"},
		{name: "no STARTTLS offered", opts: smtpOptions{noTLS: true}, wantText: "STARTTLS", noAuth: true},
		{name: "untrusted certificate", change: func(c *SMTPConfig) { c.CAFile = "" }, wantText: "certificate", noAuth: true},
		{name: "no supported mechanism", opts: smtpOptions{mechs: []string{"CRAM-MD5"}}, wantText: "mechanism", noAuth: true},
		{name: "auth required but not configured", opts: smtpOptions{requireAuth: true}, change: func(c *SMTPConfig) { c.Username, c.Password = "", "" }, wantText: "mail from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startSMTP(t, tt.opts)
			s := newTestSMTP(t, ts, tt.change)
			ctx := testCtx(t)
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			start := time.Now()
			err := s.SendEmail(ctx, &Message{Kind: EmailOTP, To: "ana@example.test", Code: "123456", ExpiresIn: time.Minute})
			if err == nil {
				t.Fatal("SendEmail succeeded, want an error")
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("SendEmail took %v", elapsed)
			}
			if !errors.Is(err, ErrDelivery) || errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v: Is(ErrDelivery) = %v, Is(ErrInvalidMessage) = %v; want true, false",
					err, errors.Is(err, ErrDelivery), errors.Is(err, ErrInvalidMessage))
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			for _, secret := range []string{testPass, "wrong-password", "123456"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals %q", err, secret)
				}
			}
			if n := len(ts.messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
			if tt.noAuth && ts.authAttempts() != 0 {
				t.Errorf("credentials were offered %d times", ts.authAttempts())
			}
		})
	}
}

// TestSMTPRefusesHeaderInjection checks that a recipient or subject that
// would add a header is refused before anything is sent.
func TestSMTPRefusesHeaderInjection(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "en", "email_otp.txt"),
		"{{define \"subject\"}}Code for {{.ActionCode}}\nBcc: eve@evil.test{{end}}{{.Code}}\n")
	tmpl, err := NewTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := startSMTP(t, smtpOptions{})
	s := newTestSMTP(t, ts, nil)
	injecting, err := NewSMTP(SMTPConfig{Host: ts.Host, Port: ts.Port, From: "a@acme.test", CAFile: ts.CAFile}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	base := Message{Kind: EmailOTP, To: "ana@example.test", Code: "123456", ExpiresIn: time.Minute}
	tests := []struct {
		name   string
		sender *SMTP
		change func(*Message)
	}{
		{"CRLF in To", s, func(m *Message) { m.To = "ana@example.test\r\nBcc: eve@evil.test" }},
		{"LF in To", s, func(m *Message) { m.To = "ana@example.test\nBcc: eve@evil.test" }},
		{"two recipients", s, func(m *Message) { m.To = "ana@example.test, eve@evil.test" }},
		{"display name", s, func(m *Message) { m.To = "Ana <ana@example.test>" }},
		{"not an address", s, func(m *Message) { m.To = "ana" }},
		{"CRLF in tenant name", s, func(m *Message) { m.TenantName = "Acme\r\nBcc: eve@evil.test" }},
		{"template yields line break in subject", injecting, func(m *Message) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.change(&m)
			err := tt.sender.SendEmail(testCtx(t), &m)
			if !errors.Is(err, ErrInvalidMessage) || !errors.Is(err, ErrDelivery) {
				t.Fatalf("SendEmail error = %v, want ErrInvalidMessage and ErrDelivery", err)
			}
			if n := len(ts.messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

// TestNewSMTPConfig checks configuration errors and defaults.
func TestNewSMTPConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      SMTPConfig
		wantErr  string
		wantAddr string
	}{
		{name: "defaults", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test"}, wantAddr: "smtp.acme.test:587"},
		{name: "implicit tls port", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", TLS: TLSImplicit}, wantAddr: "smtp.acme.test:465"},
		{name: "none port", cfg: SMTPConfig{Host: "mailpit", From: "a@acme.test", TLS: TLSNone}, wantAddr: "mailpit:25"},
		{name: "none with auth on loopback", cfg: SMTPConfig{Host: "::1", Port: 1025, From: "a@acme.test", TLS: TLSNone, Username: "u", Password: "pw-not-in-errors"}, wantAddr: "[::1]:1025"},
		{name: "none with auth remote", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", TLS: TLSNone, Username: "u", Password: "pw-not-in-errors"}, wantErr: "loopback"},
		{name: "no host", cfg: SMTPConfig{From: "a@acme.test"}, wantErr: "host"},
		{name: "no from", cfg: SMTPConfig{Host: "smtp.acme.test"}, wantErr: "from"},
		{name: "bad from", cfg: SMTPConfig{Host: "smtp.acme.test", From: "Acme\r\nBcc: x <a@acme.test>"}, wantErr: "from"},
		{name: "bad mode", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", TLS: "ssl"}, wantErr: "tls mode"},
		{name: "bad port", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", Port: 70000}, wantErr: "port"},
		{name: "missing CA file", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", CAFile: "/nonexistent/ca.pem"}, wantErr: "CA file"},
		{name: "password without user", cfg: SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", Password: "pw-not-in-errors"}, wantErr: "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSMTP error = %v, want one mentioning %q", err, tt.wantErr)
				}
				if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
					t.Errorf("error %q reveals the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			if s.addr != tt.wantAddr {
				t.Errorf("addr = %q, want %q", s.addr, tt.wantAddr)
			}
		})
	}
}

// TestEncodeSubject checks that long non-ASCII subjects fold into short
// encoded words that decode back.
func TestEncodeSubject(t *testing.T) {
	subject := strings.Repeat("Bestätigungscode für Ünïcödé ", 6)
	enc := encodeSubject(subject)
	for _, line := range strings.Split(enc, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d bytes: %q", len(line), line)
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader("Subject: " + enc + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || got != subject {
		t.Errorf("decoded %q (%v), want %q", got, err, subject)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
