package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The Server API calls this application makes, written against the wire
// contract with net/http. The names follow the official Authsignal Go SDK
// (github.com/authsignal/authsignalgo/v2: Track, ValidateChallenge,
// TrackRequest, TrackAttributes, …), so that an application written with
// the SDK and one written like this differ only in the import: point the
// SDK's API URL at Vigil's /v1 and give it the tenant's Server API secret.

// Action states this application acts on (contract §2.4, UserActionState).
const (
	stateAllow              = "ALLOW"
	stateBlock              = "BLOCK"
	stateChallengeRequired  = "CHALLENGE_REQUIRED"
	stateReviewRequired     = "REVIEW_REQUIRED"
	stateChallengeSucceeded = "CHALLENGE_SUCCEEDED"
)

// vigilClient calls Vigil's Server API with HTTP Basic authentication: the
// Server API secret as the user name and an empty password. It is safe for
// concurrent use.
type vigilClient struct {
	apiURL string // the Server API base URL, ending in /v1
	secret string
	http   *http.Client
}

// trackRequest is the input of track: the user, the action code and the
// body of POST /users/{userId}/actions/{action}.
type trackRequest struct {
	UserID     string
	Action     string
	Attributes trackAttributes
}

// trackAttributes is the JSON body of track (contract §2.4).
type trackAttributes struct {
	RedirectURL string `json:"redirectUrl,omitempty"` // where the hosted challenge page sends the browser back
	IPAddress   string `json:"ipAddress,omitempty"`
	UserAgent   string `json:"userAgent,omitempty"`
	DeviceID    string `json:"deviceId,omitempty"`
	Email       string `json:"email,omitempty"`
	Username    string `json:"username,omitempty"`
}

// trackResponse is the part of track's answer this application reads.
type trackResponse struct {
	IdempotencyKey string `json:"idempotencyKey"`
	State          string `json:"state"`
	URL            string `json:"url"`   // the hosted challenge page
	Token          string `json:"token"` // the challenge token, for a client SDK
	IsEnrolled     bool   `json:"isEnrolled"`
}

// validateRequest is the body of POST /validate. UserID and Action ask
// Vigil to check that the token belongs to that user and action; a token
// that does not is answered isValid false and is not consumed.
type validateRequest struct {
	Token  string `json:"token"`
	UserID string `json:"userId,omitempty"`
	Action string `json:"action,omitempty"`
}

// validateResponse is the answer of POST /validate (contract §2.5).
type validateResponse struct {
	IsValid        bool   `json:"isValid"`
	State          string `json:"state"`
	UserID         string `json:"userId"`
	Action         string `json:"action"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// apiError is a non-2xx answer of the Server API: its status and the
// error body every Authsignal SDK reads (contract §0).
type apiError struct {
	Status      int
	Code        string `json:"errorCode"`
	Description string `json:"errorDescription"`
}

// Error implements error.
func (e *apiError) Error() string {
	return fmt.Sprintf("vigil: %d %s: %s", e.Status, e.Code, e.Description)
}

// track records the action and returns Vigil's decision.
func (c *vigilClient) track(ctx context.Context, req trackRequest) (*trackResponse, error) {
	path := "/users/" + url.PathEscape(req.UserID) + "/actions/" + url.PathEscape(req.Action)
	var res trackResponse
	if err := c.post(ctx, path, req.Attributes, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// validateChallenge checks a challenge token. A successful validation is
// consumed: the same token is isValid false the next time.
func (c *vigilClient) validateChallenge(ctx context.Context, req validateRequest) (*validateResponse, error) {
	var res validateResponse
	if err := c.post(ctx, "/validate", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// post sends body as JSON to the Server API path and decodes a 2xx answer
// into out; any other answer is an *apiError.
func (c *vigilClient) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.secret, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("vigil: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("vigil: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code = "unexpected_error"
			e.Description = http.StatusText(resp.StatusCode)
		}
		return e
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("vigil: decoding the answer: %w", err)
	}
	return nil
}

// serverAPIURL returns the Server API base URL for Vigil's root URL
// ("http://localhost:8080") or for the base URL itself (".../v1").
func serverAPIURL(vigilURL string) (string, error) {
	u, err := url.Parse(vigilURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("VigilURL %q must be an absolute http or https URL without credentials, query or fragment", vigilURL)
	}
	base := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	return base, nil
}
