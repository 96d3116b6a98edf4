package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// TestSignatureHeaderVector is the verified vector of the contract,
// section 5.
func TestSignatureHeaderVector(t *testing.T) {
	body := `{"version":1,"type":"test.event","id":"123","source":"test","time":"2025-01-01T00:00:00Z","tenantId":"tenant","data":{}}`
	got := signatureHeader(1740016316, []byte(body), []string{"test-secret-key-123"})
	want := "t=1740016316,v2=tAnV/fVQr5Spp/ylzLHQnLX95hDQ9TYNw97DkP9z498"
	if got != want {
		t.Errorf("signatureHeader = %q, want %q", got, want)
	}
}

// verifySignature is the Authsignal SDKs' check (contract section 5),
// written from the contract rather than from signatureHeader: parse the
// header, apply the 5-minute tolerance, accept if any v2 entry matches.
func verifySignature(header string, body []byte, secret string, now time.Time) error {
	var ts int64 = -1
	var sigs []string
	for _, item := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New("Signature format is invalid.")
			}
			ts = n
		case "v2":
			sigs = append(sigs, v)
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return errors.New("Signature format is invalid.")
	}
	if ts < now.Add(-5*time.Minute).Unix() {
		return errors.New("Timestamp is outside the tolerance zone.")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
	want := strings.TrimRight(base64.StdEncoding.EncodeToString(mac.Sum(nil)), "=")
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("Signature mismatch.")
}

// hookRequest is what the fake receiver saw.
type hookRequest struct {
	Header http.Header
	Body   []byte
}

type fakeReceiver struct {
	*httptest.Server
	mu   sync.Mutex // guards reqs
	reqs []hookRequest
}

func startReceiver(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *fakeReceiver {
	t.Helper()
	f := &fakeReceiver{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, hookRequest{r.Header.Clone(), body})
		f.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeReceiver) requests() []hookRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hookRequest(nil), f.reqs...)
}

func TestWebhookSend(t *testing.T) {
	const secret = "server-api-secret-abcdefghijklmnop"
	fixed := time.Date(2025, 2, 20, 1, 51, 56, 123_000_000, time.UTC)
	tests := []struct {
		name     string
		msg      Message
		sms      bool
		wantType string
		wantData map[string]any
	}{
		{
			name: "email otp",
			msg: Message{Kind: EmailOTP, To: "ana@example.test", Code: "482913", Locale: "fr", TenantID: "t-1",
				ActionCode: "signIn", UserID: "u-1", IdempotencyKey: "idem-1", ExpiresIn: 10 * time.Minute},
			wantType: "email.created",
			wantData: map[string]any{"to": "ana@example.test", "code": "482913", "userId": "u-1",
				"idempotencyKey": "idem-1", "actionCode": "signIn", "verificationMethod": "EMAIL_OTP", "locale": "fr"},
		},
		{
			name: "email magic link",
			msg: Message{Kind: EmailMagicLink, To: "ana@example.test", Link: "https://id.acme.test/m?t=abc&x=1", TenantID: "t-1",
				ActionCode: "signIn", UserID: "u-1", IdempotencyKey: "idem-2", ExpiresIn: 10 * time.Minute},
			wantType: "email.created",
			wantData: map[string]any{"to": "ana@example.test", "url": "https://id.acme.test/m?t=abc&x=1", "userId": "u-1",
				"idempotencyKey": "idem-2", "actionCode": "signIn", "verificationMethod": "EMAIL_MAGIC_LINK"},
		},
		{
			name: "sms",
			msg: Message{Kind: SMSOTP, To: "+64211234567", Code: "000042", Locale: "es", TenantID: "t-2",
				ActionCode: "withdraw", UserID: "u-2", IdempotencyKey: "idem-3", ExpiresIn: 5 * time.Minute},
			sms:      true,
			wantType: "sms.created",
			wantData: map[string]any{"to": "+64211234567", "code": "000042", "userId": "u-2",
				"idempotencyKey": "idem-3", "actionCode": "withdraw", "verificationMethod": "SMS", "locale": "es"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
			wh, err := NewWebhook(WebhookConfig{URL: f.URL + "/hooks?token=q", Secrets: []string{secret}, Source: "https://vigil.acme.test"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			wh.now = func() time.Time { return fixed }
			if tt.sms {
				err = wh.SendSMS(testCtx(t), &tt.msg)
			} else {
				err = wh.SendEmail(testCtx(t), &tt.msg)
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			req := reqs[0]
			if ct := req.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			sig := req.Header.Get("X-Signature-V2")
			if !strings.HasPrefix(sig, "t=1740016316,v2=") {
				t.Errorf("X-Signature-V2 = %q, want t=1740016316", sig)
			}
			if err := verifySignature(sig, req.Body, secret, fixed); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
			if err := verifySignature(sig, append(req.Body, ' '), secret, fixed); err == nil {
				t.Error("signature verifies a tampered body")
			}
			if err := verifySignature(sig, req.Body, "other-secret", fixed); err == nil {
				t.Error("signature verifies with another secret")
			}

			var got map[string]any
			if err := json.Unmarshal(req.Body, &got); err != nil {
				t.Fatalf("body %s: %v", req.Body, err)
			}
			id, _ := got["id"].(string)
			if _, err := uuid.Parse(id); err != nil {
				t.Errorf("id %q is not a UUID", id)
			}
			delete(got, "id")
			want := map[string]any{
				"version":  1.0,
				"source":   "https://vigil.acme.test",
				"time":     "2025-02-20T01:51:56.123Z",
				"tenantId": tt.msg.TenantID,
				"type":     tt.wantType,
				"data":     tt.wantData,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			if _, err := time.Parse(time.RFC3339, got["time"].(string)); err != nil {
				t.Errorf("time is not RFC 3339: %v", err)
			}
		})
	}
}

// TestWebhookRotation checks that every configured secret yields a
// signature that verifies, as during a key rotation.
func TestWebhookRotation(t *testing.T) {
	f := startReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	wh, err := NewWebhook(WebhookConfig{URL: f.URL, Secrets: []string{"new-secret", "old-secret"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{Kind: SMSOTP, To: "+64211234567", Code: "1", ExpiresIn: time.Minute}
	if err := wh.SendSMS(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
	req := f.requests()[0]
	sig := req.Header.Get("X-Signature-V2")
	if n := strings.Count(sig, ",v2="); n != 2 {
		t.Errorf("X-Signature-V2 = %q, want 2 signatures", sig)
	}
	for _, s := range []string{"new-secret", "old-secret"} {
		if err := verifySignature(sig, req.Body, s, time.Now()); err != nil {
			t.Errorf("secret %q: %v", s, err)
		}
	}
}

func TestWebhookFailures(t *testing.T) {
	second := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request)
		wantText string
	}{
		{"400", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }, "status 400"},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "status 404"},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, "status 500"},
		{"302 not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, second.URL, http.StatusFound)
		}, "status 302"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "deadline exceeded"},
	}
	const urlSecret = "url-token-in-query"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startReceiver(t, tt.handler)
			wh, err := NewWebhook(WebhookConfig{URL: f.URL + "/?token=" + urlSecret, Secrets: []string{"signing-secret"}, Timeout: 300 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = wh.SendEmail(testCtx(t), &Message{Kind: EmailOTP, To: "ana@example.test", Code: "482913", ExpiresIn: time.Minute})
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("SendEmail took %v", elapsed)
			}
			if !errors.Is(err, ErrDelivery) {
				t.Fatalf("SendEmail error = %v, want ErrDelivery", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			for _, s := range []string{"signing-secret", urlSecret, "482913"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals %q", err, s)
				}
			}
			if n := len(second.requests()); n != 0 {
				t.Errorf("redirect target got %d requests", n)
			}
		})
	}

	t.Run("receiver down", func(t *testing.T) {
		f := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
		url := f.URL
		f.Close()
		wh, err := NewWebhook(WebhookConfig{URL: url + "/?token=" + urlSecret, Secrets: []string{"signing-secret"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = wh.SendSMS(testCtx(t), &Message{Kind: SMSOTP, To: "+64211234567", Code: "482913", ExpiresIn: time.Minute})
		if !errors.Is(err, ErrDelivery) {
			t.Fatalf("SendSMS error = %v, want ErrDelivery", err)
		}
		if strings.Contains(err.Error(), urlSecret) {
			t.Errorf("error %q reveals the URL's token", err)
		}
	})
}

func TestWebhookRefusesInvalid(t *testing.T) {
	f := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	wh, err := NewWebhook(WebhookConfig{URL: f.URL, Secrets: []string{"s"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.SendEmail(testCtx(t), &Message{Kind: SMSOTP, To: "+64211234567", Code: "1", ExpiresIn: time.Minute}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("SendEmail(SMSOTP) = %v, want ErrInvalidMessage", err)
	}
	if err := wh.SendSMS(testCtx(t), &Message{Kind: EmailOTP, To: "ana@example.test", Code: "1", ExpiresIn: time.Minute}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("SendSMS(EmailOTP) = %v, want ErrInvalidMessage", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("receiver got %d requests", n)
	}
}

func TestNewWebhookConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     WebhookConfig
		wantErr string
	}{
		{"ok", WebhookConfig{URL: "https://hooks.acme.test/vigil", Secrets: []string{"s"}}, ""},
		{"no URL", WebhookConfig{Secrets: []string{"s"}}, "URL"},
		{"relative URL", WebhookConfig{URL: "/hooks", Secrets: []string{"s"}}, "URL"},
		{"no secret", WebhookConfig{URL: "https://hooks.acme.test/vigil"}, "secret"},
		{"empty secret", WebhookConfig{URL: "https://hooks.acme.test/vigil", Secrets: []string{"s", ""}}, "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWebhook(tt.cfg, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewWebhook error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}
