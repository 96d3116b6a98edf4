// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// a loopback port for tests that read one-time codes and links from the
// mail Vigil sends. It accepts mail without TLS or authentication, for
// "vigil serve --smtp-tls none" pointed at it. It is imported by tests only.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Message is one received mail.
type Message struct {
	From    string
	To      []string
	Subject string
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
}

// Server is a running test SMTP server.
type Server struct {
	Host string
	Port int

	mu   sync.Mutex
	msgs []Message
	cond *sync.Cond
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Host: "127.0.0.1"}
	s.cond = sync.NewCond(&s.mu)
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &session{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
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
	return s
}

// Messages returns every message received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the n-th message (from 1) sent to to, waiting up to
// timeout for it.
func (s *Server) Wait(to string, n int, timeout time.Duration) (Message, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		seen := 0
		for _, m := range s.msgs {
			for _, rcpt := range m.To {
				if strings.EqualFold(rcpt, to) {
					seen++
					if seen == n {
						return m, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return Message{}, errors.New("smtptest: no message " + to + " in time")
		}
		s.cond.Wait()
	}
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)
var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/magic-link/[^\s"<>]+`)

// Code returns the first six-digit code in the message's text part.
func (m Message) Code() string { return codeRE.FindString(m.Text) }

// Link returns the first magic link in the message's text part.
func (m Message) Link() string { return linkRE.FindString(m.Text) }

type session struct {
	srv  *Server
	from string
	to   []string
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                        { s.from, s.to = "", nil }
func (s *session) Logout() error                                 { return nil }

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return err
	}
	m.From, m.To = s.from, append([]string(nil), s.to...)
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, m)
	s.srv.cond.Broadcast()
	s.srv.mu.Unlock()
	return nil
}

// parse decodes a message's subject and its text and HTML parts.
func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	var m Message
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, err
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Message{}, err
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodePart(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		m.Text = body
		return m, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return m, nil
		} else if err != nil {
			return Message{}, err
		}
		body, err := decodePart(p, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Message{}, err
		}
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			m.Text = body
		case strings.HasPrefix(ct, "text/html"):
			m.HTML = body
		}
	}
}

func decodePart(r io.Reader, enc string) (string, error) {
	switch strings.ToLower(enc) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = newBase64Reader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
