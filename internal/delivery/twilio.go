package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// TwilioConfig configures the Twilio-compatible SMS sender.
type TwilioConfig struct {
	// BaseURL is the API's base URL. Default "https://api.twilio.com"; set
	// it for a Twilio-compatible provider or a regional edge.
	BaseURL string

	// AccountSID is the account ("AC…") whose Messages resource is used.
	// Required.
	AccountSID string

	// AuthToken is the account's auth token, or the secret of the API key
	// given in APIKeySID. Required; a secret.
	AuthToken string

	// APIKeySID, when set, is an API key ("SK…") used as the HTTP Basic user
	// name instead of AccountSID, with AuthToken as its secret.
	APIKeySID string

	// From is the sending phone number (E.164) or alphanumeric sender ID.
	// Required unless MessagingServiceSID is set.
	From string

	// MessagingServiceSID ("MG…"), when set, sends through a messaging
	// service, which picks the sender; it takes precedence over From.
	MessagingServiceSID string

	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
}

// Twilio sends SMS through Twilio's Programmable Messaging API, or any API
// compatible with it: POST {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json,
// form-encoded To, From (or MessagingServiceSid) and Body, with HTTP Basic
// authentication. It is safe for concurrent use.
type Twilio struct {
	endpoint string
	user     string
	token    string
	from     string
	service  string
	timeout  time.Duration
	tmpl     *Templates
	client   *http.Client
}

var _ SMSSender = (*Twilio)(nil)

// NewTwilio returns a Twilio sender that renders messages with t (the
// built-in templates when t is nil) and sends them with client (when nil,
// a client that follows no redirects). It checks cfg but does not connect.
func NewTwilio(cfg TwilioConfig, t *Templates, client *http.Client) (*Twilio, error) {
	base := cmp.Or(cfg.BaseURL, "https://api.twilio.com")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, errors.New("delivery: twilio: base URL must be an absolute http(s) URL without credentials or query")
	}
	if cfg.AccountSID == "" || strings.ContainsFunc(cfg.AccountSID, notPrintable) || strings.Contains(cfg.AccountSID, "/") {
		return nil, errors.New("delivery: twilio: account SID is required")
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("delivery: twilio: auth token is required")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" {
		return nil, errors.New("delivery: twilio: a from number or a messaging service SID is required")
	}
	if t == nil {
		if t, err = NewTemplates(""); err != nil {
			return nil, err
		}
	}
	return &Twilio{
		endpoint: strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		user:     cmp.Or(cfg.APIKeySID, cfg.AccountSID),
		token:    cfg.AuthToken,
		from:     cfg.From,
		service:  cfg.MessagingServiceSID,
		timeout:  cmp.Or(cfg.Timeout, 10*time.Second),
		tmpl:     t,
		client:   cmp.Or(client, noRedirectClient()),
	}, nil
}

// SendSMS renders m in its locale and creates a Twilio Message. It returns
// nil once the API has answered 2xx (the message is queued). A non-2xx
// answer is an error carrying Twilio's error code and message.
func (tw *Twilio) SendSMS(ctx context.Context, m *Message) error {
	if err := validate("twilio", "sms", m); err != nil {
		return err
	}
	r, err := tw.tmpl.render(m)
	if err != nil {
		return failed("twilio", fmt.Errorf("render %v: %w", m.Kind, err))
	}
	form := url.Values{"To": {m.To}, "Body": {r.Text}}
	if tw.service != "" {
		form.Set("MessagingServiceSid", tw.service)
	} else {
		form.Set("From", tw.from)
	}

	ctx, cancel := context.WithTimeout(ctx, tw.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tw.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return failed("twilio", err)
	}
	req.SetBasicAuth(tw.user, tw.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := tw.client.Do(req)
	if err != nil {
		return failed("twilio", requestError(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	// https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Code != 0 || e.Message != "") {
		return failed("twilio", fmt.Errorf("status %d: error %d: %s", resp.StatusCode, e.Code, sanitize(e.Message)))
	}
	return failed("twilio", fmt.Errorf("status %d", resp.StatusCode))
}

// userAgent is sent with every HTTP request.
const userAgent = "Vigil-Delivery/1"

// noRedirectClient is the default HTTP client of the HTTP senders: a
// provider's redirect is a failure, never followed, so neither the
// credentials nor the code go anywhere but the configured URL.
func noRedirectClient() *http.Client {
	return &http.Client{
		Transport:     senderTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// senderTransport keeps connections to a provider open for reuse: Go's
// default keeps two idle connections per host, so a burst of messages
// opened a connection (and, on https, a handshake) per message.
var senderTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}()

// requestError describes a failed HTTP request without the URL, which may
// carry a token in its query: a timeout, a cancellation or the transport's
// error.
func requestError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("request: %w", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("request: %w", err)
}

// sanitize makes a provider's message safe for a log line: control
// characters dropped, at most 200 bytes.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
