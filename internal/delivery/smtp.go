package delivery

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

// The SMTP TLS modes.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS (RFC
	// 3207) before anything else is sent; a server that does not offer
	// STARTTLS is an error, never a downgrade. The default; port 587.
	TLSStartTLS TLSMode = "starttls"

	// TLSImplicit speaks TLS from the first byte (RFC 8314 section 3.3);
	// port 465.
	TLSImplicit TLSMode = "tls"

	// TLSNone sends in plain text; port 25. With a Username it is accepted
	// only for a loopback Host (a local relay or a development mail catcher).
	TLSNone TLSMode = "none"
)

// SMTPConfig configures the SMTP email sender.
type SMTPConfig struct {
	// Host is the SMTP server's host name or IP address. Required. It is
	// also the name its TLS certificate is verified against.
	Host string

	// Port is the server's TCP port. Default by TLS mode: 587 (starttls),
	// 465 (tls), 25 (none).
	Port int

	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN, or AUTH LOGIN if the server offers only that, after TLS is
	// established. Password is a secret.
	Username string
	Password string

	// From is the sender, with an optional display name:
	// "Acme <no-reply@acme.example>". Required. It is both the From header
	// and the envelope sender.
	From string

	// TLS is "starttls" (default), "tls" or "none"; see TLSMode.
	TLS TLSMode

	// CAFile, when set, is a PEM file of the CA certificates that the
	// server's certificate must chain to, instead of the system roots (for
	// a relay with a private CA). Certificates are always verified.
	CAFile string

	// HelloName is the host name sent in EHLO. Default "localhost".
	HelloName string

	// Timeout bounds one whole send: connecting, TLS, authentication and
	// the transfer. Default 30s.
	Timeout time.Duration
}

// SMTP sends email through an SMTP server (RFC 5321), one connection per
// message, as a multipart/alternative MIME message with a text/plain and a
// text/html part. It is safe for concurrent use.
type SMTP struct {
	host    string
	addr    string
	from    *mail.Address
	mode    TLSMode
	tls     *tls.Config
	user    string
	pass    string
	hello   string
	timeout time.Duration
	tmpl    *Templates
	now     func() time.Time // time.Now; replaced in tests
}

var _ EmailSender = (*SMTP)(nil)

// NewSMTP returns an SMTP sender that renders messages with t (the
// built-in templates when t is nil). It checks cfg but does not connect.
func NewSMTP(cfg SMTPConfig, t *Templates) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("delivery: smtp: host is required")
	}
	if strings.ContainsAny(cfg.Host, " \r\n/") {
		return nil, errors.New("delivery: smtp: malformed host")
	}
	mode := cfg.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	port := cfg.Port
	switch mode {
	case TLSStartTLS:
		port = cmp.Or(port, 587)
	case TLSImplicit:
		port = cmp.Or(port, 465)
	case TLSNone:
		port = cmp.Or(port, 25)
		if cfg.Username != "" && !isLoopback(cfg.Host) {
			return nil, errors.New("delivery: smtp: authentication without TLS is allowed only to a loopback host; use tls mode starttls or tls")
		}
	default:
		return nil, fmt.Errorf("delivery: smtp: tls mode %q: want starttls, tls or none", cfg.TLS)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("delivery: smtp: port %d out of range", port)
	}
	if cfg.From == "" {
		return nil, errors.New("delivery: smtp: from address is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("delivery: smtp: from address %q: %v", cfg.From, err)
	}
	if !strings.Contains(from.Address, "@") {
		return nil, fmt.Errorf("delivery: smtp: from address %q has no domain", cfg.From)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("delivery: smtp: password given without username")
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("delivery: smtp: CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("delivery: smtp: CA file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	hello := cmp.Or(cfg.HelloName, "localhost")
	if strings.ContainsAny(hello, " \r\n") {
		return nil, errors.New("delivery: smtp: malformed hello name")
	}
	if t == nil {
		if t, err = NewTemplates(""); err != nil {
			return nil, err
		}
	}
	return &SMTP{
		host:    cfg.Host,
		addr:    net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		from:    from,
		mode:    mode,
		tls:     tc,
		user:    cfg.Username,
		pass:    cfg.Password,
		hello:   hello,
		timeout: cmp.Or(cfg.Timeout, 30*time.Second),
		tmpl:    t,
		now:     time.Now,
	}, nil
}

// SendEmail renders m in its locale and sends it. It returns nil once the
// server has accepted the message at the end of DATA.
func (s *SMTP) SendEmail(ctx context.Context, m *Message) error {
	if err := validate("smtp", "email", m); err != nil {
		return err
	}
	r, err := s.tmpl.render(m)
	if err != nil {
		return failed("smtp", fmt.Errorf("render %v: %w", m.Kind, err))
	}
	if strings.ContainsAny(r.Subject, "\r\n") {
		return invalid("smtp", "line break in subject")
	}
	msg, err := s.compose(m.To, r)
	if err != nil {
		return failed("smtp", err)
	}
	return s.send(ctx, m.To, msg)
}

// compose builds the RFC 5322 message: headers, then a multipart/alternative
// body (RFC 2046 section 5.1.4) with the text part first and the HTML part
// last, as the preferred one. Both parts are UTF-8, quoted-printable.
func (s *SMTP) compose(to string, r rendered) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", r.Text},
		{"text/html; charset=utf-8", r.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(p.content)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	_, domain, _ := strings.Cut(s.from.Address, "@")
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", encodeSubject(r.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+rand.Text()+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// encodeSubject encodes subject as RFC 2047 Q encoded-words when it is not
// plain ASCII, folding between words to keep lines short.
func encodeSubject(subject string) string {
	enc := mime.QEncoding.Encode("utf-8", subject)
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// send runs one SMTP transaction for msg to rcpt.
func (s *SMTP) send(ctx context.Context, rcpt string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			return failed("smtp", fmt.Errorf("%s: %w: %v", step, ctx.Err(), err))
		}
		return failed("smtp", fmt.Errorf("%s: %w", step, err))
	}

	var conn net.Conn
	var err error
	dialer := &net.Dialer{}
	if s.mode == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fail("connect", err)
	}
	defer conn.Close()
	// Bound every read and write by ctx: when it ends (deadline or
	// cancellation), pending and later I/O fails at once, and ctx.Err()
	// then says why.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fail("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fail("hello", err)
	}
	if s.mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("starttls", errors.New("server does not offer STARTTLS"))
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fail("starttls", err)
		}
	}
	if s.user != "" {
		auth, err := s.auth(c)
		if err != nil {
			return fail("auth", err)
		}
		if err := c.Auth(auth); err != nil {
			return fail("auth", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fail("mail from", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fail("rcpt to", err)
	}
	w, err := c.Data()
	if err != nil {
		return fail("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fail("data", err)
	}
	if err := w.Close(); err != nil {
		return fail("data", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// auth picks PLAIN, else LOGIN, among the mechanisms the server offers.
func (s *SMTP) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, params := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("server does not offer AUTH")
	}
	mechs := strings.Fields(strings.ToUpper(params))
	switch {
	case slices.Contains(mechs, "PLAIN"):
		return smtp.PlainAuth("", s.user, s.pass, s.host), nil
	case slices.Contains(mechs, "LOGIN"):
		return &loginAuth{user: s.user, pass: s.pass, host: s.host}, nil
	}
	return nil, fmt.Errorf("server offers no supported mechanism (PLAIN, LOGIN) among %q", params)
}

// loginAuth is the obsolete but widespread AUTH LOGIN mechanism
// (draft-murchison-sasl-login): the user name, then the password, each in
// answer to a challenge. Like smtp.PlainAuth it refuses to send credentials
// over an unencrypted connection except to localhost.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLoopback(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected LOGIN challenge")
}
