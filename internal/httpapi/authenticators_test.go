package httpapi

import (
	"bytes"
	"encoding/base32"
	"net/http"
	"testing"

	"github.com/vigil-auth/vigil"
)

func TestAuthenticatorEnrollListDelete(t *testing.T) {
	env := newTestEnv(t, Config{})
	diff(t, arr(t, env.call("GET", "/v1/users/user12345/authenticators", ""), http.StatusOK), []any{})

	got := obj(t, env.call("POST", "/v1/users/user12345/authenticators",
		`{"verificationMethod":"EMAIL_OTP","email":"not-a-real-email@authsignal.com","oobChannel":null}`), http.StatusOK)
	a, ok := got["authenticator"].(map[string]any)
	if !ok {
		t.Fatalf("response is not wrapped in authenticator: %v", got)
	}
	if _, ok := got["recoveryCodes"]; ok {
		t.Errorf("recoveryCodes present: %v", got)
	}
	id := a["userAuthenticatorId"].(string)
	ignore(t, a, "userAuthenticatorId")
	diff(t, a, map[string]any{
		"userId": "user12345", "verificationMethod": "EMAIL_OTP", "email": "not-a-real-email@authsignal.com",
		"createdAt": "2025-03-04T05:06:07.891Z", "verifiedAt": "2025-03-04T05:06:07.891Z",
	})

	list := arr(t, env.call("GET", "/v1/users/user12345/authenticators", ""), http.StatusOK)
	if len(list) != 1 || list[0].(map[string]any)["userAuthenticatorId"] != id {
		t.Fatalf("list = %v, want the enrolled authenticator", list)
	}

	diff(t, obj(t, env.call("DELETE", "/v1/users/user12345/authenticators/"+id, ""), http.StatusOK), map[string]any{"success": true})
	diff(t, arr(t, env.call("GET", "/v1/users/user12345/authenticators", ""), http.StatusOK), []any{})
	wantError(t, env.call("DELETE", "/v1/users/user12345/authenticators/"+id, ""), http.StatusNotFound, vigil.ENOTFOUND)
}

func TestAuthenticatorEnrollMethods(t *testing.T) {
	env := newTestEnv(t, Config{})
	ctx := ctxA()
	seed := []byte("12345678901234567890")
	seedB32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)

	t.Run("SMS", func(t *testing.T) {
		a := obj(t, env.call("POST", "/v1/users/m1/authenticators", `{"verificationMethod":"SMS","phoneNumber":"+64270000000"}`), http.StatusOK)["authenticator"].(map[string]any)
		if a["phoneNumber"] != "+64270000000" || a["verificationMethod"] != "SMS" {
			t.Errorf("authenticator = %v", a)
		}
	})
	t.Run("WhatsApp", func(t *testing.T) {
		obj(t, env.call("POST", "/v1/users/m1/authenticators", `{"verificationMethod":"WHATSAPP","phoneNumber":"+64270000001"}`), http.StatusOK)
	})
	t.Run("MagicLink", func(t *testing.T) {
		obj(t, env.call("POST", "/v1/users/m1/authenticators", `{"verificationMethod":"EMAIL_MAGIC_LINK","email":"m@example.com"}`), http.StatusOK)
	})
	t.Run("AuthenticatorApp", func(t *testing.T) {
		uri := "otpauth://totp/Vigil:m2?secret=" + seedB32 + "&issuer=Vigil&algorithm=SHA1&digits=6&period=30"
		a := obj(t, env.call("POST", "/v1/users/m2/authenticators", `{"verificationMethod":"AUTHENTICATOR_APP","otpUri":"`+uri+`"}`), http.StatusOK)["authenticator"].(map[string]any)
		if _, ok := a["otpUri"]; ok {
			t.Errorf("the seed is echoed: %v", a)
		}
		auths, _ := env.store.FindAuthenticators(ctx, "m2")
		if len(auths) != 1 || !bytes.Equal(auths[0].OTPSecret, seed) {
			t.Fatalf("stored OTP secret = %v, want the decoded seed", auths)
		}
	})
	t.Run("AuthenticatorAppRejects", func(t *testing.T) {
		for name, uri := range map[string]string{
			"Missing":   "",
			"NotOTP":    "https://example.com/?secret=" + seedB32,
			"HOTP":      "otpauth://hotp/x?secret=" + seedB32 + "&counter=1",
			"SHA256":    "otpauth://totp/x?secret=" + seedB32 + "&algorithm=SHA256",
			"8Digits":   "otpauth://totp/x?secret=" + seedB32 + "&digits=8",
			"Period60":  "otpauth://totp/x?secret=" + seedB32 + "&period=60",
			"NoSecret":  "otpauth://totp/x",
			"BadBase32": "otpauth://totp/x?secret=not-base32!",
			"80Bits":    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP",
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, env.call("POST", "/v1/users/m3/authenticators", `{"verificationMethod":"AUTHENTICATOR_APP","otpUri":"`+uri+`"}`), http.StatusBadRequest, vigil.EINVALID)
			})
		}
		if auths, _ := env.store.FindAuthenticators(ctx, "m3"); len(auths) != 0 {
			t.Errorf("%d authenticators stored for refused requests", len(auths))
		}
	})
	t.Run("Passkey", func(t *testing.T) {
		got := obj(t, env.call("POST", "/v1/users/m4/authenticators", `{"verificationMethod":"PASSKEY","credentialId":"AQIDBA==",
			"credentialPublicKey":"pQECAyYgASFYIA","signCount":7,"name":"My Mac","aaguid":"adce0002-35bc-c60a-648b-0b25f1f05503",
			"transports":["internal"],"userAgent":"Mozilla/5.0"}`), http.StatusOK)
		a := got["authenticator"].(map[string]any)
		ignore(t, a, "userAuthenticatorId")
		diff(t, a, map[string]any{
			"userId": "m4", "verificationMethod": "PASSKEY",
			"createdAt": "2025-03-04T05:06:07.891Z", "verifiedAt": "2025-03-04T05:06:07.891Z",
			"webauthnCredential": map[string]any{
				"credentialId": "AQIDBA", "deviceId": "", "name": "My Mac",
				"aaguid": "adce0002-35bc-c60a-648b-0b25f1f05503", "credentialBackedUp": false,
				"parsedUserAgent": map[string]any{"ua": "Mozilla/5.0", "browser": map[string]any{"name": "Mozilla/5.0"}},
			},
		})
		auths, _ := env.store.FindAuthenticators(ctx, "m4")
		if c := auths[0].Credential; c.SignCount != 7 || len(c.PublicKey) == 0 || c.Transports[0] != "internal" {
			t.Errorf("stored credential = %+v", c)
		}
		// The same credential in its padded spelling is the same credential.
		wantError(t, env.call("POST", "/v1/users/m5/authenticators", `{"verificationMethod":"PASSKEY","credentialId":"AQIDBA","credentialPublicKey":"pQECAyYgASFYIA"}`),
			http.StatusConflict, vigil.ECONFLICT)
	})
}

func TestAuthenticatorBatchEnroll(t *testing.T) {
	env := newTestEnv(t, Config{})
	obj(t, env.call("POST", "/v1/users/owner/authenticators", `{"verificationMethod":"PASSKEY","credentialId":"Y3JlZC0x","credentialPublicKey":"cGsx"}`), http.StatusOK)
	got := obj(t, env.call("POST", "/v1/users/authenticators", `{"authenticators":[
		{"userId":"b1","verificationMethod":"PASSKEY","credentialId":"Y3JlZC0y","credentialPublicKey":"cGsy","name":"n","transports":["usb"],"aaguid":"x"},
		{"userId":"b2","verificationMethod":"PASSKEY","credentialId":"Y3JlZC0x","credentialPublicKey":"cGsx"},
		{"userId":"b3","verificationMethod":"PASSKEY","credentialId":"Y3JlZC0z"},
		{"userId":"b4","verificationMethod":"SMS","phoneNumber":"1"},
		{"verificationMethod":"PASSKEY","credentialId":"Y3JlZC00","credentialPublicKey":"cGs0"}
	]}`), http.StatusOK)
	failures := got["failures"].([]any)
	for _, f := range failures {
		ignore(t, f.(map[string]any), "errorDescription")
	}
	diff(t, got, map[string]any{
		"total": jsonNum(5), "succeeded": jsonNum(1), "failed": jsonNum(4),
		"failures": []any{
			map[string]any{"userId": "b3", "credentialId": "Y3JlZC0z", "errorCode": "invalid_request"},
			map[string]any{"userId": "b4", "credentialId": "", "errorCode": "invalid_request"},
			map[string]any{"userId": "", "credentialId": "Y3JlZC00", "errorCode": "invalid_request"},
			map[string]any{"userId": "b2", "credentialId": "Y3JlZC0x", "errorCode": "conflict"},
		},
	})
	w := env.call("POST", "/v1/users/authenticators", `{"authenticators":[{"userId":"b9","verificationMethod":"PASSKEY","credentialId":"Y3JlZC0x","credentialPublicKey":"cGsx"}]}`)
	f := obj(t, w, http.StatusOK)["failures"].([]any)[0].(map[string]any)
	if f["errorDescription"] != "Credential already exists for a different user." {
		t.Errorf("conflict errorDescription = %v", f["errorDescription"])
	}
	diff(t, obj(t, env.call("POST", "/v1/users/authenticators", `{}`), http.StatusOK),
		map[string]any{"total": jsonNum(0), "succeeded": jsonNum(0), "failed": jsonNum(0), "failures": []any{}})
}

func TestAuthenticatorConfigs(t *testing.T) {
	env := newTestEnv(t, Config{})
	a := arr(t, env.call("GET", "/v1/authenticators", ""), http.StatusOK)
	b := arr(t, env.do(request{method: "GET", path: "/v1/authenticators", secret: otherSecret}), http.StatusOK)
	var methods []any
	for i, item := range a {
		m := item.(map[string]any)
		methods = append(methods, m["verificationMethod"])
		if m["isActive"] != true {
			t.Errorf("%v isActive = %v", m["verificationMethod"], m["isActive"])
		}
		if m["authenticatorId"] == b[i].(map[string]any)["authenticatorId"] {
			t.Errorf("authenticatorId %v is shared between tenants", m["authenticatorId"])
		}
		if !vigil.VerificationMethod(m["verificationMethod"].(string)).Implemented() {
			t.Errorf("%v is reported but not implemented", m["verificationMethod"])
		}
	}
	diff(t, methods, []any{"SMS", "EMAIL_OTP", "EMAIL_MAGIC_LINK", "AUTHENTICATOR_APP", "PASSKEY", "SECURITY_KEY", "RECOVERY_CODE"})
	// Stable across calls.
	diff(t, arr(t, env.call("GET", "/v1/authenticators", ""), http.StatusOK), a)
}
