package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	smtpCfg := SMTPConfig{Host: "smtp.acme.test", From: "a@acme.test", Username: "u", Password: "smtp-pass"}
	twilioCfg := TwilioConfig{AccountSID: "AC1", AuthToken: "twilio-token", From: "+1500"}
	hook := WebhookConfig{URL: "https://hooks.acme.test/", Secrets: []string{"hook-secret"}}
	tests := []struct {
		name      string
		cfg       Config
		wantEmail string // type of the email sender
		wantSMS   string
		wantErr   string
		wantWarn  bool // the development warning is logged
	}{
		{name: "nothing configured", wantEmail: "*delivery.Log", wantSMS: "*delivery.Log", wantWarn: true},
		{name: "smtp and twilio", cfg: Config{EmailProvider: "smtp", SMTP: smtpCfg, SMSProvider: "twilio", Twilio: twilioCfg},
			wantEmail: "*delivery.SMTP", wantSMS: "*delivery.Twilio"},
		{name: "webhooks", cfg: Config{EmailProvider: "webhook", EmailWebhook: hook, SMSProvider: "webhook", SMSWebhook: hook},
			wantEmail: "*delivery.Webhook", wantSMS: "*delivery.Webhook"},
		{name: "smtp only", cfg: Config{EmailProvider: "smtp", SMTP: smtpCfg},
			wantEmail: "*delivery.SMTP", wantSMS: "delivery.unconfigured"},
		{name: "twilio only", cfg: Config{SMSProvider: "twilio", Twilio: twilioCfg},
			wantEmail: "delivery.unconfigured", wantSMS: "*delivery.Twilio"},
		{name: "smtp and explicit log", cfg: Config{EmailProvider: "smtp", SMTP: smtpCfg, SMSProvider: "log"},
			wantEmail: "*delivery.SMTP", wantSMS: "*delivery.Log", wantWarn: true},
		{name: "unknown email provider", cfg: Config{EmailProvider: "sendgrid"}, wantErr: "sendgrid"},
		{name: "unknown sms provider", cfg: Config{SMSProvider: "smpp"}, wantErr: "smpp"},
		{name: "smtp misconfigured", cfg: Config{EmailProvider: "smtp", SMTP: SMTPConfig{Host: "x", Password: "smtp-pass"}}, wantErr: "smtp"},
		{name: "webhook misconfigured", cfg: Config{SMSProvider: "webhook", SMSWebhook: WebhookConfig{URL: "https://x.test"}}, wantErr: "secret"},
		{name: "bad template dir", cfg: Config{EmailProvider: "smtp", SMTP: smtpCfg, TemplateDir: "/nonexistent/templates"}, wantErr: "templates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			email, sms, err := New(tt.cfg, slog.New(slog.NewTextHandler(&buf, nil)), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
				}
				for _, s := range []string{"smtp-pass", "twilio-token", "hook-secret"} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q reveals %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := fmt.Sprintf("%T", email); got != tt.wantEmail {
				t.Errorf("email sender %s, want %s", got, tt.wantEmail)
			}
			if got := fmt.Sprintf("%T", sms); got != tt.wantSMS {
				t.Errorf("SMS sender %s, want %s", got, tt.wantSMS)
			}
			if n := strings.Count(buf.String(), "DEVELOPMENT SENDER"); (n == 1) != tt.wantWarn || n > 1 {
				t.Errorf("development warning logged %d times; want it: %v", n, tt.wantWarn)
			}
		})
	}
}

// TestUnconfigured checks that a channel without a provider fails without
// logging the code.
func TestUnconfigured(t *testing.T) {
	var buf bytes.Buffer
	_, sms, err := New(Config{EmailProvider: "webhook", EmailWebhook: WebhookConfig{URL: "https://x.test", Secrets: []string{"s"}}},
		slog.New(slog.NewTextHandler(&buf, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sms.SendSMS(testCtx(t), &Message{Kind: SMSOTP, To: "+64211234567", Code: "482913", ExpiresIn: time.Minute})
	if !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), "no provider") {
		t.Errorf("SendSMS = %v, want ErrDelivery: no provider", err)
	}
	if strings.Contains(buf.String(), "482913") {
		t.Errorf("code logged: %s", buf.String())
	}
}

func TestNewNilLogger(t *testing.T) {
	if _, _, err := New(Config{}, nil, nil); err == nil {
		t.Error("New with a nil logger succeeded")
	}
}
