package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The fixed identity of the one tenant the floor serves.
const (
	tenantID = "7f3c2a9e-5b1d-4e8f-9a6c-2d4b8e1f0c37"
	keyID    = "floor-1"
	tokenTTL = 10 * time.Minute
)

// unauthorizedBody is the exact 401 body of the Server API contract.
const unauthorizedBody = `{"error":"unauthorized","errorCode":"unauthorized","errorDescription":"The request is unauthorized. Check that your API key and region base URL are correctly configured."}`

// server answers track, update action and validate for one tenant. It is
// safe for concurrent use.
type server struct {
	store     *store
	secretSum [32]byte // SHA-256 of the Server API secret, as Vigil stores it hashed
	signKey   []byte   // HS256 key
	header    string   // the token's base64url-encoded JOSE header
	publicURL string
	newKey    func() string // generates idempotency keys
	now       func() time.Time
}

// newServer returns a server over st. signKey is the HS256 key.
func newServer(st *store, secret string, signKey []byte, publicURL string) *server {
	return &server{
		store:     st,
		secretSum: sha256.Sum256([]byte(secret)),
		signKey:   signKey,
		header:    base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + keyID + `","typ":"JWT"}`)),
		publicURL: publicURL,
		newKey:    uuid.NewString,
		now:       time.Now,
	}
}

// handler routes the three endpoints, authenticating before routing as the
// contract requires.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users/{userId}/actions/{action}", s.track)
	mux.HandleFunc("PATCH /v1/users/{userId}/actions/{action}/{idempotencyKey}", s.updateAction)
	mux.HandleFunc("POST /v1/validate", s.validate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		sum := sha256.Sum256([]byte(user))
		if !ok || pass != "" || subtle.ConstantTimeCompare(sum[:], s.secretSum[:]) != 1 {
			writeRaw(w, http.StatusUnauthorized, []byte(unauthorizedBody))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// trackRequest is the part of the track body the floor reads; the whole
// body is stored as it came.
type trackRequest struct {
	IdempotencyKey string         `json:"idempotencyKey"`
	IPAddress      string         `json:"ipAddress"`
	UserAgent      string         `json:"userAgent"`
	DeviceID       string         `json:"deviceId"`
	Custom         map[string]any `json:"custom"`
}

// trackResponse is the track answer of the contract (section 2.4).
type trackResponse struct {
	IdempotencyKey string `json:"idempotencyKey"`
	State          string `json:"state"`
	URL            string `json:"url"`
	Token          string `json:"token"`
	IsEnrolled     bool   `json:"isEnrolled"`
}

// track decodes the body, inserts the action through the group commit,
// signs a token and answers only after the commit. A replayed
// idempotencyKey inserts nothing and gets the same answer.
func (s *server) track(w http.ResponseWriter, r *http.Request) {
	userID, code := r.PathValue("userId"), r.PathValue("action")
	if !validCode(code) || userID == "" || len(userID) > 255 {
		writeError(w, http.StatusBadRequest, "invalid_request", "invalid user ID or action code")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var in trackRequest
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	} else if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body")
		return
	}
	key := in.IdempotencyKey
	if key == "" {
		key = s.newKey()
	}
	now := s.now().UTC()
	if _, err := s.store.exec(r.Context(), s.store.insert, tenantID, key, userID, code, "ALLOW", now, now, string(body)); err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "the action was not stored")
		return
	}
	token, err := s.sign(&claims{
		Issuer: s.publicURL, Subject: userID, Audience: tenantID, TenantID: tenantID,
		Action: code, Key: key, Scope: "read:authenticators",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(tokenTTL).Unix(),
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "signing failed")
		return
	}
	writeJSON(w, &trackResponse{
		IdempotencyKey: key,
		State:          "ALLOW",
		URL:            s.publicURL + "/challenge?token=" + token,
		Token:          token,
		IsEnrolled:     false,
	})
}

// updateAction sets an action's state, through the group commit, so that
// vigil-bench -succeed can prepare CHALLENGE_SUCCEEDED actions.
func (s *server) updateAction(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var in struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(body, &in); err != nil || !validState(in.State) {
		writeError(w, http.StatusBadRequest, "invalid_request", "state must be a UserActionState")
		return
	}
	userID, code, key := r.PathValue("userId"), r.PathValue("action"), r.PathValue("idempotencyKey")
	n, err := s.store.exec(r.Context(), s.store.setState, in.State, s.now().UTC(), tenantID, key, userID, code)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "the action was not updated")
		return
	}
	if n == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such action")
		return
	}
	writeJSON(w, map[string]string{"state": in.State, "userId": userID, "action": code, "idempotencyKey": key})
}

// validateResponse is the validate answer of the contract (section 2.5).
type validateResponse struct {
	IsValid        bool   `json:"isValid"`
	State          string `json:"state,omitempty"`
	StateUpdatedAt string `json:"stateUpdatedAt,omitempty"`
	UserID         string `json:"userId,omitempty"`
	Action         string `json:"action,omitempty"`
	ActionCode     string `json:"actionCode,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// validate verifies the token and reads its action. A CHALLENGE_SUCCEEDED
// action is consumed through the group commit: only the validation whose
// update changed the row answers isValid true.
func (s *server) validate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var in struct {
		Token  string `json:"token"`
		UserID string `json:"userId"`
		Action string `json:"action"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Token == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	c, ok := s.verify(in.Token)
	if !ok || (in.UserID != "" && in.UserID != c.Subject) || (in.Action != "" && in.Action != c.Action) {
		writeJSON(w, &validateResponse{})
		return
	}
	a, found, err := s.store.find(r.Context(), c.TenantID, c.Key)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "the action could not be read")
		return
	}
	if !found || a.userID != c.Subject || a.code != c.Action {
		writeJSON(w, &validateResponse{})
		return
	}
	valid := false
	if a.state == "CHALLENGE_SUCCEEDED" && !a.consumed {
		n, err := s.store.exec(r.Context(), s.store.consume, s.now().UTC(), c.TenantID, c.Key)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", "the action could not be updated")
			return
		}
		valid = n == 1
	}
	writeJSON(w, &validateResponse{
		IsValid:        valid,
		State:          a.state,
		StateUpdatedAt: a.stateUpdatedAt.UTC().Format(time.RFC3339Nano),
		UserID:         a.userID,
		Action:         a.code,
		ActionCode:     a.code,
		IdempotencyKey: c.Key,
	})
}

// claims are the token's JWT claims, about the size of Vigil's.
type claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"` // user ID
	Audience  string `json:"aud"`
	TenantID  string `json:"tid"`
	Action    string `json:"act"`
	Key       string `json:"idk"` // idempotency key
	Scope     string `json:"scope"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// sign returns the HS256 JWT (RFC 7519) of c.
func (s *server) sign(c *claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s.header) + 1 + base64.RawURLEncoding.EncodedLen(len(payload)) + 1 + 43)
	b.WriteString(s.header)
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(payload))
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(b.String()))
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
	return b.String(), nil
}

// verify checks an HS256 JWT's header, signature, expiry and tenant, and
// returns its claims; ok is false for any token that does not verify.
func (s *server) verify(token string) (c *claims, ok bool) {
	h, rest, ok1 := strings.Cut(token, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return nil, false
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, false
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hdrJSON, &hdr) != nil || hdr.Alg != "HS256" || hdr.Kid != keyID {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, false
	}
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(token[:len(h)+1+len(p)]))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, false
	}
	c = &claims{}
	if json.Unmarshal(payload, c) != nil || c.TenantID != tenantID || s.now().Unix() >= c.ExpiresAt {
		return nil, false
	}
	return c, true
}

// validCode reports whether code matches ^[a-zA-Z0-9_-]{1,64}$.
func validCode(code string) bool {
	if len(code) == 0 || len(code) > 64 {
		return false
	}
	for _, c := range []byte(code) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validState reports whether st is a UserActionState.
func validState(st string) bool {
	switch st {
	case "ALLOW", "BLOCK", "CHALLENGE_REQUIRED", "CHALLENGE_SUCCEEDED", "CHALLENGE_FAILED",
		"REVIEW_REQUIRED", "REVIEW_SUCCEEDED", "REVIEW_FAILED":
		return true
	}
	return false
}

// readBody reads at most 1 MiB of request body, answering 413 beyond.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "the body exceeds 1 MiB")
		} else {
			writeError(w, http.StatusBadRequest, "invalid_request", "the body could not be read")
		}
		return nil, false
	}
	return body, true
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "encoding failed")
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// writeError answers with the contract's error body.
func writeError(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(map[string]string{"error": code, "errorCode": code, "errorDescription": description})
	writeRaw(w, status, b)
}

// writeRaw answers with a JSON body.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	w.Write(body)
}
