package delivery

import (
	"context"
	"log/slog"
)

// Log is the development sender: it writes each message, code and link
// included, to a logger at WARN level instead of delivering it. It is what
// New selects when no provider is configured; it must not be used in
// production, since anyone who can read the log can then complete any
// challenge. It is safe for concurrent use.
type Log struct {
	log *slog.Logger
}

var (
	_ EmailSender = (*Log)(nil)
	_ SMSSender   = (*Log)(nil)
)

// NewLog returns a Log sender writing to logger, which must not be nil,
// and logs once, at WARN, that one-time codes and magic links are being
// written to the log.
func NewLog(logger *slog.Logger) *Log {
	logger.Warn("delivery: DEVELOPMENT SENDER ACTIVE: no email or SMS provider is configured, so one-time codes and magic links are written to this log instead of being sent; configure SMTP, Twilio or a webhook before production")
	return &Log{log: logger}
}

// SendEmail logs m. It fails only when m is invalid.
func (l *Log) SendEmail(ctx context.Context, m *Message) error {
	if err := validate("log", "email", m); err != nil {
		return err
	}
	l.write(ctx, m)
	return nil
}

// SendSMS logs m. It fails only when m is invalid.
func (l *Log) SendSMS(ctx context.Context, m *Message) error {
	if err := validate("log", "sms", m); err != nil {
		return err
	}
	l.write(ctx, m)
	return nil
}

func (l *Log) write(ctx context.Context, m *Message) {
	attrs := []slog.Attr{
		slog.String("sender", "development"),
		slog.String("kind", m.Kind.String()),
		slog.String("to", m.To),
	}
	if m.Kind == EmailMagicLink {
		attrs = append(attrs, slog.String("link", m.Link))
	} else {
		attrs = append(attrs, slog.String("code", m.Code))
	}
	attrs = append(attrs,
		slog.String("tenant", m.TenantName),
		slog.String("tenantId", m.TenantID),
		slog.String("actionCode", m.ActionCode),
		slog.String("userId", m.UserID),
		slog.String("locale", m.Locale),
		slog.Duration("expiresIn", m.ExpiresIn),
	)
	l.log.LogAttrs(ctx, slog.LevelWarn, "delivery: development sender: message logged, NOT sent", attrs...)
}
