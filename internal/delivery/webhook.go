package delivery

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// WebhookConfig configures the webhook sender.
type WebhookConfig struct {
	// URL receives the events, by POST. Required; http or https (use https
	// unless the receiver is on loopback: the payload holds the code).
	URL string

	// Secrets sign each event (X-Signature-V2). Required. Authsignal SDKs
	// verify with the tenant's Server API secret, so that is what the first
	// secret should be; while a secret is being rotated, give both and each
	// yields a signature. Secrets are secrets.
	Secrets []string

	// Source is the envelope's "source": this server's public URL.
	// Default "vigil".
	Source string

	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
}

// Webhook delivers messages as Authsignal webhook events, for a receiver
// that sends them itself: EmailOTP and EmailMagicLink as "email.created",
// SMSOTP as "sms.created" (contract section 5). Delivery is synchronous and
// never retried here: only a 2xx answer within the timeout is success. It
// is safe for concurrent use.
//
// Unlike Vigil's other webhook events, these carry the code or link: that
// is their purpose. The receiver must verify the signature.
type Webhook struct {
	url     string
	secrets []string
	source  string
	timeout time.Duration
	client  *http.Client
	now     func() time.Time // time.Now; replaced in tests
}

var (
	_ EmailSender = (*Webhook)(nil)
	_ SMSSender   = (*Webhook)(nil)
)

// NewWebhook returns a webhook sender that posts with client (when nil, a
// client that follows no redirects). It checks cfg but does not connect.
// Callers that let tenants choose the URL should pass a client that refuses
// private addresses.
func NewWebhook(cfg WebhookConfig, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("delivery: webhook: URL must be an absolute http(s) URL")
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("delivery: webhook: a signing secret is required")
	}
	for _, s := range cfg.Secrets {
		if s == "" {
			return nil, errors.New("delivery: webhook: empty signing secret")
		}
	}
	return &Webhook{
		url:     cfg.URL,
		secrets: append([]string(nil), cfg.Secrets...),
		source:  cmp.Or(cfg.Source, "vigil"),
		timeout: cmp.Or(cfg.Timeout, 10*time.Second),
		client:  cmp.Or(client, noRedirectClient()),
		now:     time.Now,
	}, nil
}

// SendEmail posts m as an "email.created" event.
func (wh *Webhook) SendEmail(ctx context.Context, m *Message) error {
	if err := validate("webhook", "email", m); err != nil {
		return err
	}
	return wh.post(ctx, "email.created", m)
}

// SendSMS posts m as an "sms.created" event.
func (wh *Webhook) SendSMS(ctx context.Context, m *Message) error {
	if err := validate("webhook", "sms", m); err != nil {
		return err
	}
	return wh.post(ctx, "sms.created", m)
}

// envelope is the Authsignal webhook envelope (contract section 5).
type envelope struct {
	Version  int         `json:"version"`
	ID       string      `json:"id"`
	Source   string      `json:"source"`
	Time     string      `json:"time"`
	TenantID string      `json:"tenantId"`
	Type     string      `json:"type"`
	Data     messageData `json:"data"`
}

// messageData is the data of email.created and sms.created, in the order
// Authsignal sends it (the Go SDK's webhook test payloads).
type messageData struct {
	To                 string `json:"to"`
	Code               string `json:"code,omitempty"`
	URL                string `json:"url,omitempty"`
	UserID             string `json:"userId"`
	ActionCode         string `json:"actionCode"`
	IdempotencyKey     string `json:"idempotencyKey"`
	VerificationMethod string `json:"verificationMethod"`
	Locale             string `json:"locale,omitempty"`
}

func (wh *Webhook) post(ctx context.Context, typ string, m *Message) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return failed("webhook", err)
	}
	now := wh.now()
	data := messageData{
		To:                 m.To,
		UserID:             m.UserID,
		IdempotencyKey:     m.IdempotencyKey,
		ActionCode:         m.ActionCode,
		VerificationMethod: m.Kind.verificationMethod(),
		Locale:             m.Locale,
	}
	if m.Kind == EmailMagicLink {
		data.URL = m.Link
	} else {
		data.Code = m.Code
	}
	body, err := json.Marshal(envelope{
		Version:  1,
		ID:       id.String(),
		Source:   wh.source,
		Time:     now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		TenantID: m.TenantID,
		Type:     typ,
		Data:     data,
	})
	if err != nil {
		return failed("webhook", err)
	}

	ctx, cancel := context.WithTimeout(ctx, wh.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.url, bytes.NewReader(body))
	if err != nil {
		return failed("webhook", errors.New("bad request URL"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Signature-V2", signatureHeader(now.Unix(), body, wh.secrets))
	resp, err := wh.client.Do(req)
	if err != nil {
		return failed("webhook", requestError(ctx, err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return failed("webhook", fmt.Errorf("%s: status %d", typ, resp.StatusCode))
	}
	return nil
}

// signatureHeader is the X-Signature-V2 value for body sent at unix time t:
// "t=<t>,v2=<sig>" with one v2 entry per secret, where sig is the standard
// base64 of HMAC-SHA256(secret, "<t>.<body>") without "=" padding
// (contract section 5, "Signature header").
func signatureHeader(t int64, body []byte, secrets []string) string {
	ts := strconv.FormatInt(t, 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		b.WriteString(",v2=" + base64.RawStdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}
