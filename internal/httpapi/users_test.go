package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

func TestUserGet(t *testing.T) {
	env := newTestEnv(t, Config{})
	t.Run("Unknown", func(t *testing.T) {
		diff(t, obj(t, env.call("GET", "/v1/users/nobody", ""), http.StatusOK),
			map[string]any{"isEnrolled": false, "emailVerified": false, "phoneNumberVerified": false})
	})
	t.Run("SMSOnlyHasNoEmail", func(t *testing.T) {
		obj(t, env.call("POST", "/v1/users/sms-user/authenticators", `{"verificationMethod":"SMS","phoneNumber":"+6427000000"}`), http.StatusOK)
		diff(t, obj(t, env.call("GET", "/v1/users/sms-user", ""), http.StatusOK), map[string]any{
			"isEnrolled": true, "emailVerified": false, "phoneNumberVerified": false,
			"enrolledVerificationMethods": []any{"SMS"},
			"allowedVerificationMethods":  []any{"SMS"},
		})
	})
	t.Run("Full", func(t *testing.T) {
		obj(t, env.call("PATCH", "/v1/users/full", `{"email":"f@example.com","emailVerified":true,"phoneNumber":"9876543210",
			"username":"full","displayName":"Full User","custom":{"foo":"bar","n":12345678901234567890},"locale":"en-NZ"}`), http.StatusOK)
		obj(t, env.call("POST", "/v1/users/full/authenticators", `{"verificationMethod":"EMAIL_OTP","email":"f@example.com"}`), http.StatusOK)
		obj(t, env.call("POST", "/v1/users/full/authenticators", `{"verificationMethod":"SMS","phoneNumber":"9876543210","isDefault":true}`), http.StatusOK)
		obj(t, env.call("POST", "/v1/users/full/authenticators", `{"verificationMethod":"SMS","phoneNumber":"111"}`), http.StatusOK)
		diff(t, obj(t, env.call("GET", "/v1/users/full", ""), http.StatusOK), map[string]any{
			"isEnrolled": true, "email": "f@example.com", "emailVerified": true,
			"phoneNumber": "9876543210", "phoneNumberVerified": false,
			"username": "full", "displayName": "Full User",
			"custom":                      map[string]any{"foo": "bar", "n": json.Number("12345678901234567890")},
			"enrolledVerificationMethods": []any{"EMAIL_OTP", "SMS"},
			"allowedVerificationMethods":  []any{"EMAIL_OTP", "SMS"},
			"defaultVerificationMethod":   "SMS",
		})
	})
}

func TestUserUpdate(t *testing.T) {
	env := newTestEnv(t, Config{})
	for _, method := range []string{"PATCH", "POST"} {
		t.Run(method, func(t *testing.T) {
			path := "/v1/users/new-" + method
			got := obj(t, env.call(method, path, `{"email":"n@example.com","emailVerified":true,"phoneNumber":"9876543210",
				"phoneNumberVerified":false,"username":"nu","displayName":"New","custom":{"foo":"bar"},"locale":"en","unknownField":{"x":1}}`), http.StatusOK)
			diff(t, got, map[string]any{
				"email": "n@example.com", "emailVerified": true, "phoneNumber": "9876543210", "phoneNumberVerified": false,
				"username": "nu", "displayName": "New", "custom": map[string]any{"foo": "bar"}, "locale": "en",
			})
			// Partial: absent and null keys leave values unchanged; "" clears.
			got = obj(t, env.call(method, path, `{"displayName":"Renamed","email":null,"username":""}`), http.StatusOK)
			diff(t, got, map[string]any{
				"email": "n@example.com", "emailVerified": true, "phoneNumber": "9876543210", "phoneNumberVerified": false,
				"displayName": "Renamed", "custom": map[string]any{"foo": "bar"}, "locale": "en",
			})
		})
	}
	t.Run("EmptyBodies", func(t *testing.T) {
		for i, body := range []string{"", "{}", "null", "  "} {
			got := obj(t, env.call("PATCH", fmt.Sprintf("/v1/users/empty-%d", i), body), http.StatusOK)
			diff(t, got, map[string]any{"emailVerified": false, "phoneNumberVerified": false})
		}
	})
}

func TestUserQuery(t *testing.T) {
	env := newTestEnv(t, Config{})
	for _, id := range []string{"u3", "u1", "u2", "other"} {
		email := "shared@example.com"
		if id == "other" {
			email = "other@example.com"
		}
		obj(t, env.call("PATCH", "/v1/users/"+id, `{"email":"`+email+`","username":"name-`+id+`"}`), http.StatusOK)
	}
	t.Run("ByEmail", func(t *testing.T) {
		diff(t, obj(t, env.call("GET", "/v1/users?email=shared@example.com", ""), http.StatusOK), map[string]any{
			"users": []any{
				map[string]any{"userId": "u1", "email": "shared@example.com", "emailVerified": false, "phoneNumberVerified": false, "username": "name-u1"},
				map[string]any{"userId": "u2", "email": "shared@example.com", "emailVerified": false, "phoneNumberVerified": false, "username": "name-u2"},
				map[string]any{"userId": "u3", "email": "shared@example.com", "emailVerified": false, "phoneNumberVerified": false, "username": "name-u3"},
			},
		})
		if f := env.store.lastUF["tenant-a"]; f.Limit != defaultUserQueryLimit+1 {
			t.Errorf("store limit = %d, want %d", f.Limit, defaultUserQueryLimit+1)
		}
	})
	t.Run("Paged", func(t *testing.T) {
		page := obj(t, env.call("GET", "/v1/users?email=shared@example.com&limit=2", ""), http.StatusOK)
		if page["lastEvaluatedUserId"] != "u2" || len(page["users"].([]any)) != 2 {
			t.Fatalf("page 1 = %v, want u1,u2 and lastEvaluatedUserId u2", page)
		}
		page = obj(t, env.call("GET", "/v1/users?email=shared@example.com&limit=2&lastEvaluatedUserId=u2", ""), http.StatusOK)
		users := page["users"].([]any)
		if len(users) != 1 || users[0].(map[string]any)["userId"] != "u3" {
			t.Fatalf("page 2 users = %v, want u3", users)
		}
		if _, ok := page["lastEvaluatedUserId"]; ok {
			t.Errorf("lastEvaluatedUserId present on the last page: %v", page)
		}
	})
	t.Run("NoMatch", func(t *testing.T) {
		diff(t, obj(t, env.call("GET", "/v1/users?username=nobody", ""), http.StatusOK), map[string]any{"users": []any{}})
	})
}

func TestUserDelete(t *testing.T) {
	env := newTestEnv(t, Config{})
	obj(t, env.call("POST", "/v1/users/gone/authenticators", `{"verificationMethod":"EMAIL_OTP","email":"g@example.com"}`), http.StatusOK)
	diff(t, obj(t, env.call("DELETE", "/v1/users/gone", ""), http.StatusOK), map[string]any{"success": true})
	diff(t, obj(t, env.call("GET", "/v1/users/gone", ""), http.StatusOK),
		map[string]any{"isEnrolled": false, "emailVerified": false, "phoneNumberVerified": false})
	diff(t, arr(t, env.call("GET", "/v1/users/gone/authenticators", ""), http.StatusOK), []any{})
	// Deleting an unknown user succeeds too.
	diff(t, obj(t, env.call("DELETE", "/v1/users/never", ""), http.StatusOK), map[string]any{"success": true})
}
