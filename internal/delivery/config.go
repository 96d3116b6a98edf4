package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Config selects and configures the providers of both channels; it is what
// `vigil serve` fills from its flags. The zero Config selects the Log
// (development) sender for both.
type Config struct {
	// EmailProvider is "smtp", "webhook", "log" or "" (none).
	EmailProvider string

	// SMSProvider is "twilio", "webhook", "log" or "" (none).
	SMSProvider string

	// SMTP configures the "smtp" email provider.
	SMTP SMTPConfig

	// EmailWebhook configures the "webhook" email provider.
	EmailWebhook WebhookConfig

	// Twilio configures the "twilio" SMS provider.
	Twilio TwilioConfig

	// SMSWebhook configures the "webhook" SMS provider.
	SMSWebhook WebhookConfig

	// TemplateDir, when set, overrides the built-in message templates; see
	// NewTemplates.
	TemplateDir string
}

// New builds the senders cfg selects. When neither provider is set, both
// are the Log sender (and logger gets its warning). When only one is set,
// the other channel's sender fails every send with ErrDelivery rather than
// logging codes in what is presumably a production setup. client is used by
// the HTTP providers; nil selects a client that follows no redirects.
// logger must not be nil.
func New(cfg Config, logger *slog.Logger, client *http.Client) (EmailSender, SMSSender, error) {
	if logger == nil {
		return nil, nil, errors.New("delivery: nil logger")
	}
	if cfg.EmailProvider == "" && cfg.SMSProvider == "" {
		l := NewLog(logger)
		return l, l, nil
	}
	var t *Templates
	if cfg.EmailProvider == "smtp" || cfg.SMSProvider == "twilio" {
		var err error
		if t, err = NewTemplates(cfg.TemplateDir); err != nil {
			return nil, nil, err
		}
	}
	var logSender *Log
	logs := func() *Log {
		if logSender == nil {
			logSender = NewLog(logger)
		}
		return logSender
	}

	var email EmailSender
	var err error
	switch cfg.EmailProvider {
	case "smtp":
		email, err = NewSMTP(cfg.SMTP, t)
	case "webhook":
		email, err = NewWebhook(cfg.EmailWebhook, client)
	case "log":
		email = logs()
	case "":
		email = unconfigured("email")
	default:
		err = fmt.Errorf("delivery: email provider %q: want smtp, webhook or log", cfg.EmailProvider)
	}
	if err != nil {
		return nil, nil, err
	}

	var sms SMSSender
	switch cfg.SMSProvider {
	case "twilio":
		sms, err = NewTwilio(cfg.Twilio, t, client)
	case "webhook":
		sms, err = NewWebhook(cfg.SMSWebhook, client)
	case "log":
		sms = logs()
	case "":
		sms = unconfigured("sms")
	default:
		err = fmt.Errorf("delivery: SMS provider %q: want twilio, webhook or log", cfg.SMSProvider)
	}
	if err != nil {
		return nil, nil, err
	}
	return email, sms, nil
}

// unconfigured is the sender of a channel without a provider.
type unconfigured string

func (u unconfigured) SendEmail(context.Context, *Message) error { return u.fail() }
func (u unconfigured) SendSMS(context.Context, *Message) error   { return u.fail() }

func (u unconfigured) fail() error {
	return failed(string(u), errors.New("no provider configured"))
}
