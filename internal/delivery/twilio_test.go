package delivery

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testAuthToken = "twilio-auth-token-0123456789"

// twilioRequest is what the fake Twilio API saw.
type twilioRequest struct {
	Method, Path, ContentType string
	User, Pass                string
	Form                      url.Values
}

// fakeTwilio is a loopback HTTP server answering with status and body.
type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex // guards reqs
	reqs []twilioRequest
}

func startTwilio(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		r.ParseForm()
		f.mu.Lock()
		f.reqs = append(f.reqs, twilioRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), user, pass, r.PostForm})
		f.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) requests() []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioRequest(nil), f.reqs...)
}

func created(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"sid":"SM123","status":"queued"}`)
}

func TestTwilioSend(t *testing.T) {
	tests := []struct {
		name   string
		cfg    TwilioConfig
		locale string
		want   twilioRequest
	}{
		{
			name:   "from number",
			cfg:    TwilioConfig{AccountSID: "AC123", AuthToken: testAuthToken, From: "+15005550006"},
			locale: "en",
			want: twilioRequest{
				Method: "POST", Path: "/2010-04-01/Accounts/AC123/Messages.json",
				ContentType: "application/x-www-form-urlencoded", User: "AC123", Pass: testAuthToken,
				Form: url.Values{
					"To":   {"+64211234567"},
					"From": {"+15005550006"},
					"Body": {"482913 is your Acme verification code. It is valid for 5 minutes. If you did not request it, ignore this message."},
				},
			},
		},
		{
			name:   "messaging service and API key, German",
			cfg:    TwilioConfig{AccountSID: "AC123", APIKeySID: "SK999", AuthToken: testAuthToken, From: "+15005550006", MessagingServiceSID: "MG777"},
			locale: "de-DE",
			want: twilioRequest{
				Method: "POST", Path: "/2010-04-01/Accounts/AC123/Messages.json",
				ContentType: "application/x-www-form-urlencoded", User: "SK999", Pass: testAuthToken,
				Form: url.Values{
					"To":                  {"+64211234567"},
					"MessagingServiceSid": {"MG777"},
					"Body":                {"482913 ist Ihr Bestätigungscode für Acme. Er ist 5 Minuten gültig. Falls Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht."},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startTwilio(t, created)
			cfg := tt.cfg
			cfg.BaseURL = f.URL + "/"
			tw, err := NewTwilio(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := &Message{Kind: SMSOTP, To: "+64211234567", Code: "482913", Locale: tt.locale, TenantName: "Acme", ExpiresIn: 5 * time.Minute}
			if err := tw.SendSMS(testCtx(t), m); err != nil {
				t.Fatalf("SendSMS: %v", err)
			}
			if diff := cmp.Diff([]twilioRequest{tt.want}, f.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTwilioFailures(t *testing.T) {
	second := startTwilio(t, created) // must never be reached
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request)
		wantText []string
	}{
		{"400 with Twilio error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":21211,"message":"The 'To' number +64211234567 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`)
		}, []string{"status 400", "21211", "not a valid phone number"}},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
		}, []string{"status 401", "20003"}},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"code":20429,"message":"Too Many Requests","status":429}`)
		}, []string{"status 429", "20429"}},
		{"500 without body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}, []string{"status 500"}},
		{"503 with HTML", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html>down</html>")
		}, []string{"status 503"}},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, second.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}, []string{"status 307"}},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, []string{"deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startTwilio(t, tt.handler)
			tw, err := NewTwilio(TwilioConfig{BaseURL: f.URL, AccountSID: "AC123", AuthToken: testAuthToken, From: "+15005550006", Timeout: 300 * time.Millisecond}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tw.SendSMS(testCtx(t), &Message{Kind: SMSOTP, To: "+64211234567", Code: "482913", ExpiresIn: time.Minute})
			if err == nil {
				t.Fatal("SendSMS succeeded, want an error")
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("SendSMS took %v", elapsed)
			}
			if !errors.Is(err, ErrDelivery) {
				t.Errorf("error %v is not ErrDelivery", err)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testAuthToken) {
				t.Errorf("error %q reveals the auth token", err)
			}
			if n := len(second.requests()); n != 0 {
				t.Errorf("redirect target got %d requests", n)
			}
		})
	}
}

func TestTwilioRefusesInvalid(t *testing.T) {
	f := startTwilio(t, created)
	tw, err := NewTwilio(TwilioConfig{BaseURL: f.URL, AccountSID: "AC123", AuthToken: testAuthToken, From: "+15005550006"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Message{
		{Kind: SMSOTP, To: "0211234567", Code: "1", ExpiresIn: time.Minute},
		{Kind: SMSOTP, To: "+64 21 123", Code: "1", ExpiresIn: time.Minute},
		{Kind: SMSOTP, To: "+64211234567\nx", Code: "1", ExpiresIn: time.Minute},
		{Kind: SMSOTP, To: "+64211234567", ExpiresIn: time.Minute},
		{Kind: SMSOTP, To: "+64211234567", Code: "1"},
		{Kind: EmailOTP, To: "+64211234567", Code: "1", ExpiresIn: time.Minute},
		nil,
	} {
		if err := tw.SendSMS(testCtx(t), m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("SendSMS(%+v) = %v, want ErrInvalidMessage", m, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("provider got %d requests", n)
	}
}

func TestNewTwilioConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     TwilioConfig
		wantErr string
		wantURL string
	}{
		{name: "default base URL", cfg: TwilioConfig{AccountSID: "AC1", AuthToken: "tok-secret", From: "+1500"}, wantURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"},
		{name: "custom base URL", cfg: TwilioConfig{BaseURL: "https://sms.example.test/twilio/", AccountSID: "AC1", AuthToken: "tok-secret", MessagingServiceSID: "MG1"}, wantURL: "https://sms.example.test/twilio/2010-04-01/Accounts/AC1/Messages.json"},
		{name: "no account", cfg: TwilioConfig{AuthToken: "tok-secret", From: "+1500"}, wantErr: "account SID"},
		{name: "no token", cfg: TwilioConfig{AccountSID: "AC1", From: "+1500"}, wantErr: "auth token"},
		{name: "no sender", cfg: TwilioConfig{AccountSID: "AC1", AuthToken: "tok-secret"}, wantErr: "from"},
		{name: "credentials in base URL", cfg: TwilioConfig{BaseURL: "https://AC1:tok-secret@api.twilio.com", AccountSID: "AC1", AuthToken: "tok-secret", From: "+1500"}, wantErr: "base URL"},
		{name: "bad scheme", cfg: TwilioConfig{BaseURL: "ftp://api.twilio.com", AccountSID: "AC1", AuthToken: "tok-secret", From: "+1500"}, wantErr: "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw, err := NewTwilio(tt.cfg, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewTwilio error = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "tok-secret") {
					t.Errorf("error %q reveals the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tw.endpoint != tt.wantURL {
				t.Errorf("endpoint = %q, want %q", tw.endpoint, tt.wantURL)
			}
		})
	}
}
