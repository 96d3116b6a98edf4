package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logLines decodes the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		delete(m, "time")
		lines = append(lines, m)
	}
	return lines
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || !strings.Contains(lines[0]["msg"].(string), "DEVELOPMENT SENDER") {
		t.Fatalf("startup lines = %v, want one WARN about the development sender", lines)
	}
	buf.Reset()

	ctx := testCtx(t)
	if err := l.SendEmail(ctx, &Message{Kind: EmailOTP, To: "ana@example.test", Code: "482913", TenantName: "Acme", TenantID: "t1",
		ActionCode: "signIn", UserID: "u1", Locale: "de", ExpiresIn: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := l.SendEmail(ctx, &Message{Kind: EmailMagicLink, To: "ana@example.test", Link: "https://id.acme.test/m?t=1", ExpiresIn: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := l.SendSMS(ctx, &Message{Kind: SMSOTP, To: "+64211234567", Code: "000042", ExpiresIn: time.Minute}); err != nil {
		t.Fatal(err)
	}
	common := func(kind, to string) map[string]any {
		return map[string]any{"level": "WARN", "msg": "delivery: development sender: message logged, NOT sent",
			"sender": "development", "kind": kind, "to": to, "tenant": "", "tenantId": "", "actionCode": "",
			"userId": "", "locale": "", "expiresIn": float64(time.Minute)}
	}
	first := common("email_otp", "ana@example.test")
	first["code"], first["tenant"], first["tenantId"], first["actionCode"], first["userId"], first["locale"], first["expiresIn"] =
		"482913", "Acme", "t1", "signIn", "u1", "de", float64(10*time.Minute)
	second := common("email_magic_link", "ana@example.test")
	second["link"] = "https://id.acme.test/m?t=1"
	third := common("sms_otp", "+64211234567")
	third["code"] = "000042"
	if diff := cmp.Diff([]map[string]any{first, second, third}, logLines(t, &buf)); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}

	buf.Reset()
	if err := l.SendSMS(ctx, &Message{Kind: SMSOTP, To: "not a number", Code: "1", ExpiresIn: time.Minute}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("SendSMS(invalid) = %v, want ErrInvalidMessage", err)
	}
	if buf.Len() != 0 {
		t.Errorf("invalid message was logged: %s", buf.String())
	}
}
