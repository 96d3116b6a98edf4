package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// actionQueryWindow is how far back GET /v1/users/{userId}/actions looks by
// default, and at most (contract §2.4).
const actionQueryWindow = 30 * 24 * time.Hour

// trackRequest is the body of POST /v1/users/{userId}/actions/{action}
// (contract §2.4). Every field is optional and the body may be empty or {}.
// challengeId, customDomain and crypto are accepted and ignored: Vigil has
// no use for them yet.
type trackRequest struct {
	IdempotencyKey     string          `json:"idempotencyKey"`
	RedirectURL        string          `json:"redirectUrl"`
	RedirectToSettings *bool           `json:"redirectToSettings"` // Go sends null when unset
	IPAddress          string          `json:"ipAddress"`
	UserAgent          string          `json:"userAgent"`
	DeviceID           string          `json:"deviceId"`
	Scope              string          `json:"scope"`
	Email              string          `json:"email"`
	PhoneNumber        string          `json:"phoneNumber"`
	Username           string          `json:"username"`
	Custom             json.RawMessage `json:"custom"`
	Locale             string          `json:"locale"`
	ChallengeID        string          `json:"challengeId"`
	CustomDomain       string          `json:"customDomain"`
	Crypto             json.RawMessage `json:"crypto"`
}

// toInput validates req and builds the tracker's input.
func (req *trackRequest) toInput(userID, code string) (*vigil.TrackInput, error) {
	if req.IdempotencyKey != "" {
		if err := checkID("idempotencyKey", req.IdempotencyKey); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"redirectUrl", req.RedirectURL, maxLongAttrBytes},
		{"ipAddress", req.IPAddress, maxAttrBytes},
		{"userAgent", req.UserAgent, maxLongAttrBytes},
		{"deviceId", req.DeviceID, maxAttrBytes},
		{"scope", req.Scope, maxAttrBytes},
		{"email", req.Email, maxAttrBytes},
		{"phoneNumber", req.PhoneNumber, maxAttrBytes},
		{"username", req.Username, maxAttrBytes},
		{"locale", req.Locale, maxAttrBytes},
		{"challengeId", req.ChallengeID, maxAttrBytes},
		{"customDomain", req.CustomDomain, maxAttrBytes},
	} {
		if err := checkString(f.name, f.v, f.max); err != nil {
			return nil, err
		}
	}
	for _, sc := range strings.Fields(req.Scope) {
		if !vigil.Scope(sc).Valid() {
			return nil, vigil.Errorf(vigil.EINVALID, "The field 'scope' contains an unknown scope.")
		}
	}
	custom, err := checkCustomObject("custom", req.Custom)
	if err != nil {
		return nil, err
	}
	in := &vigil.TrackInput{
		UserID:         userID,
		ActionCode:     code,
		IdempotencyKey: req.IdempotencyKey,
		Context: vigil.ActionContext{
			IPAddress:   req.IPAddress,
			UserAgent:   req.UserAgent,
			DeviceID:    req.DeviceID,
			Email:       req.Email,
			PhoneNumber: req.PhoneNumber,
			Username:    req.Username,
			RedirectURL: req.RedirectURL,
			Scope:       strings.Join(strings.Fields(req.Scope), " "),
			Locale:      req.Locale,
			Custom:      custom,
		},
	}
	if req.RedirectToSettings != nil {
		in.Context.RedirectToSettings = *req.RedirectToSettings
	}
	return in, nil
}

// trackResponse is the body of a track call (contract §2.4).
type trackResponse struct {
	IdempotencyKey              string                     `json:"idempotencyKey"`
	State                       vigil.ActionState          `json:"state"`
	URL                         string                     `json:"url"`
	Token                       string                     `json:"token"`
	IsEnrolled                  bool                       `json:"isEnrolled"`
	EnrolledVerificationMethods []vigil.VerificationMethod `json:"enrolledVerificationMethods,omitempty"`
	AllowedVerificationMethods  []vigil.VerificationMethod `json:"allowedVerificationMethods,omitempty"`
	DefaultVerificationMethod   vigil.VerificationMethod   `json:"defaultVerificationMethod,omitempty"`
	RuleIDs                     []string                   `json:"ruleIds,omitempty"`
}

// handleActionTrack serves POST /v1/users/{userId}/actions/{action}: the
// tracker decides and stores the action, and the decision is counted by
// outcome (replays of an idempotency key are not counted again).
func (s *Server) handleActionTrack(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	code, err := pathActionCode(r)
	if err != nil {
		return err
	}
	var req trackRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	in, err := req.toInput(userID, code)
	if err != nil {
		return err
	}
	res, err := s.tracker.Track(r.Context(), in)
	if err != nil {
		return err
	}
	a := res.Action
	if a == nil {
		return errors.New("tracker returned no action") // a broken contract: internal
	}
	if !res.Replayed {
		s.metrics.decisions.WithLabelValues(outcomeLabel(a.Decision.Outcome)).Inc()
	}
	resp := trackResponse{
		IdempotencyKey:              a.IdempotencyKey,
		State:                       a.State,
		URL:                         s.absoluteURL(res.URL),
		Token:                       res.Token,
		IsEnrolled:                  a.IsEnrolled,
		EnrolledVerificationMethods: a.EnrolledMethods,
		AllowedVerificationMethods:  a.AllowedMethods,
		DefaultVerificationMethod:   a.DefaultMethod,
		RuleIDs:                     a.Decision.RuleIDs,
	}
	bp := trackBodies.Get().(*[]byte)
	body := resp.appendJSON((*bp)[:0])
	writeBody(w, http.StatusOK, body) // copies body into the connection's buffer
	if cap(body) <= maxPooledTrackBody {
		*bp = body[:0]
		trackBodies.Put(bp)
	}
	return nil
}

// trackBodies pools the buffers track responses are encoded in; a body is
// about 1.3 KB, most of it the token twice (in the URL and on its own).
var trackBodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledTrackBody is the largest buffer trackBodies keeps.
const maxPooledTrackBody = 16 << 10

// appendJSON appends r encoded exactly as json.Marshal encodes it
// (TestTrackResponseJSON). Track is the busiest endpoint, and
// encoding/json's reflection over this struct was 2.7 % of the server's
// CPU in a PostgreSQL run with rules.
func (r *trackResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"idempotencyKey":`...)
	b = jsonlogic.AppendString(b, r.IdempotencyKey)
	b = append(b, `,"state":`...)
	b = jsonlogic.AppendString(b, string(r.State))
	b = append(b, `,"url":`...)
	b = jsonlogic.AppendString(b, r.URL)
	b = append(b, `,"token":`...)
	b = jsonlogic.AppendString(b, r.Token)
	b = append(b, `,"isEnrolled":`...)
	b = strconv.AppendBool(b, r.IsEnrolled)
	if len(r.EnrolledVerificationMethods) > 0 {
		b = append(b, `,"enrolledVerificationMethods":`...)
		b = jsonlogic.AppendStrings(b, r.EnrolledVerificationMethods)
	}
	if len(r.AllowedVerificationMethods) > 0 {
		b = append(b, `,"allowedVerificationMethods":`...)
		b = jsonlogic.AppendStrings(b, r.AllowedVerificationMethods)
	}
	if r.DefaultVerificationMethod != "" {
		b = append(b, `,"defaultVerificationMethod":`...)
		b = jsonlogic.AppendString(b, string(r.DefaultVerificationMethod))
	}
	if len(r.RuleIDs) > 0 {
		b = append(b, `,"ruleIds":`...)
		b = jsonlogic.AppendStrings(b, r.RuleIDs)
	}
	return append(b, '}')
}

// outcomeLabel bounds the outcome metric label to the defined outcomes.
func outcomeLabel(o vigil.Outcome) string {
	if o.Valid() {
		return string(o)
	}
	return "UNKNOWN"
}

// absoluteURL resolves a URL the tracker produced relative to this server
// (e.g. "/challenge?token=...") against Config.PublicURL. Absolute URLs, and
// every URL when no PublicURL is configured, are returned unchanged.
func (s *Server) absoluteURL(raw string) string {
	if s.publicURL == nil || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return raw
	}
	ref, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	base := *s.publicURL
	base.Path = strings.TrimSuffix(base.Path, "/") + ref.Path
	base.RawPath = ""
	base.RawQuery = ref.RawQuery
	base.Fragment = ref.Fragment
	return base.String()
}

// actionRule is a rule snapshot in getAction.
type actionRule struct {
	RuleID      string `json:"ruleId"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// actionResponse is the body of GET (and, with the three identifying keys,
// PATCH) /v1/users/{userId}/actions/{action}/{idempotencyKey}.
type actionResponse struct {
	UserID             string                   `json:"userId,omitempty"`
	Action             string                   `json:"action,omitempty"`
	IdempotencyKey     string                   `json:"idempotencyKey,omitempty"`
	State              vigil.ActionState        `json:"state"`
	StateUpdatedAt     string                   `json:"stateUpdatedAt"`
	CreatedAt          string                   `json:"createdAt"`
	VerificationMethod vigil.VerificationMethod `json:"verificationMethod,omitempty"`
	Rules              []actionRule             `json:"rules,omitempty"`
	RuleIDs            []string                 `json:"ruleIds,omitempty"`
	PriorityRuleID     string                   `json:"priorityRuleId,omitempty"`
	Output             json.RawMessage          `json:"output"` // always an object
}

func newActionResponse(a *vigil.Action) actionResponse {
	resp := actionResponse{
		State:              a.State,
		StateUpdatedAt:     formatTime(a.StateUpdatedAt),
		CreatedAt:          formatTime(a.CreatedAt),
		VerificationMethod: a.VerificationMethod,
		RuleIDs:            a.Decision.RuleIDs,
		PriorityRuleID:     a.Decision.PriorityRuleID,
		Output:             outputObject(a.Decision.Output),
	}
	for _, rs := range a.Decision.Rules {
		resp.Rules = append(resp.Rules, actionRule{RuleID: rs.ID, Name: rs.Name, Description: rs.Description})
	}
	return resp
}

// outputObject returns the stored decision output if it is a JSON object,
// and {} otherwise: Go and Python assert output is present and non-null.
func outputObject(raw json.RawMessage) json.RawMessage {
	trimmed := strings.TrimSpace(string(raw))
	if strings.HasPrefix(trimmed, "{") && json.Valid(raw) {
		return raw
	}
	return json.RawMessage(`{}`)
}

// actionPath returns the validated path parameters of an action.
func actionPath(r *http.Request) (userID, code, key string, err error) {
	if userID, err = pathUserID(r); err != nil {
		return
	}
	if code, err = pathActionCode(r); err != nil {
		return
	}
	key = r.PathValue("idempotencyKey")
	err = checkID("idempotencyKey", key)
	return
}

// handleActionGet serves GET /v1/users/{userId}/actions/{action}/{idempotencyKey}.
// ENOTFOUND (404) if there is no such action.
func (s *Server) handleActionGet(w http.ResponseWriter, r *http.Request) error {
	userID, code, key, err := actionPath(r)
	if err != nil {
		return err
	}
	a, err := s.actions.FindAction(r.Context(), userID, code, key)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActionResponse(a))
}

// actionUpdateRequest is the body of PATCH .../{idempotencyKey}.
type actionUpdateRequest struct {
	State vigil.ActionState `json:"state"`
}

// handleActionUpdate serves PATCH /v1/users/{userId}/actions/{action}/{idempotencyKey}:
// the administrative override of an action's state. Any defined state may
// follow any other (contract §2.4: no transition validation).
func (s *Server) handleActionUpdate(w http.ResponseWriter, r *http.Request) error {
	userID, code, key, err := actionPath(r)
	if err != nil {
		return err
	}
	var req actionUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.State == "" {
		return vigil.Errorf(vigil.EINVALID, "The field 'state' is required.")
	}
	if !req.State.Valid() {
		return vigil.Errorf(vigil.EINVALID, "The field 'state' is not a known action state.")
	}
	a, err := s.actions.UpdateActionState(r.Context(), userID, code, key, req.State)
	if err != nil {
		return err
	}
	resp := newActionResponse(a)
	resp.UserID, resp.Action, resp.IdempotencyKey = a.UserID, a.Code, a.IdempotencyKey
	return writeJSON(w, http.StatusOK, resp)
}

// actionSummary is one item of GET /v1/users/{userId}/actions.
type actionSummary struct {
	ActionCode                string                   `json:"actionCode"`
	IdempotencyKey            string                   `json:"idempotencyKey"`
	CreatedAt                 string                   `json:"createdAt"`
	UpdatedAt                 string                   `json:"updatedAt,omitempty"`
	State                     vigil.ActionState        `json:"state"`
	StateUpdatedAt            string                   `json:"stateUpdatedAt,omitempty"`
	VerificationMethod        vigil.VerificationMethod `json:"verificationMethod,omitempty"`
	VerifiedByAuthenticatorID string                   `json:"verifiedByAuthenticatorId,omitempty"`
	UserAgent                 string                   `json:"userAgent,omitempty"`
	IPAddress                 string                   `json:"ipAddress,omitempty"`
	CountryCode               string                   `json:"countryCode,omitempty"`
}

// handleActionQuery serves GET /v1/users/{userId}/actions?fromDate&codes&state,
// newest first. fromDate defaults to, and cannot reach before, 30 days ago.
func (s *Server) handleActionQuery(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	floor := s.now().Add(-actionQueryWindow)
	f := vigil.ActionFilter{UserID: userID, FromDate: floor}
	if v := q.Get("fromDate"); v != "" {
		t, err := parseISOTime(v)
		if err != nil {
			return vigil.Errorf(vigil.EINVALID, "The parameter 'fromDate' must be an ISO-8601 date or time.")
		}
		if t.After(floor) {
			f.FromDate = t
		}
	}
	for _, c := range splitList(q.Get("codes")) {
		if err := checkActionCode("codes", c); err != nil {
			return err
		}
		f.Codes = append(f.Codes, c)
	}
	if v := q.Get("state"); v != "" {
		f.State = vigil.ActionState(v)
		if !f.State.Valid() {
			return vigil.Errorf(vigil.EINVALID, "The parameter 'state' is not a known action state.")
		}
	}
	actions, err := s.actions.FindActions(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]actionSummary, 0, len(actions))
	for _, a := range actions {
		out = append(out, actionSummary{
			ActionCode:                a.Code,
			IdempotencyKey:            a.IdempotencyKey,
			CreatedAt:                 formatTime(a.CreatedAt),
			UpdatedAt:                 formatTime(a.UpdatedAt),
			State:                     a.State,
			StateUpdatedAt:            formatTime(a.StateUpdatedAt),
			VerificationMethod:        a.VerificationMethod,
			VerifiedByAuthenticatorID: a.VerifiedByAuthenticatorID,
			UserAgent:                 a.Context.UserAgent,
			IPAddress:                 a.Context.IPAddress,
			CountryCode:               a.Context.CountryCode,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// parseISOTime parses an ISO-8601 timestamp (RFC 3339, fractional seconds
// optional) or a calendar date, taken as midnight UTC.
func parseISOTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

// validateRequest is the body of POST /v1/validate.
type validateRequest struct {
	Token  string `json:"token"`
	UserID string `json:"userId"` // PHP may send null
	Action string `json:"action"`
}

// validateResponse is the body of POST /v1/validate (contract §2.5). Both
// action and actionCode carry the action code, because SDKs differ in which
// one they read.
type validateResponse struct {
	IsValid            bool                     `json:"isValid"`
	State              vigil.ActionState        `json:"state,omitempty"`
	StateUpdatedAt     string                   `json:"stateUpdatedAt,omitempty"`
	UserID             string                   `json:"userId,omitempty"`
	Action             string                   `json:"action,omitempty"`
	ActionCode         string                   `json:"actionCode,omitempty"`
	IdempotencyKey     string                   `json:"idempotencyKey,omitempty"`
	VerificationMethod vigil.VerificationMethod `json:"verificationMethod,omitempty"`
}

// handleValidate serves POST /v1/validate. It answers 200 for every token,
// with isValid false for garbage, expired, foreign or already-consumed ones;
// only a missing token is a 400.
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) error {
	var req validateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return vigil.Errorf(vigil.EINVALID, "The field 'token' is required.")
	}
	if len(req.Token) > maxTokenBytes {
		// No token Vigil issues is this long.
		return writeJSON(w, http.StatusOK, validateResponse{})
	}
	if err := checkString("userId", req.UserID, maxIDBytes); err != nil {
		return err
	}
	if err := checkString("action", req.Action, maxIDBytes); err != nil {
		return err
	}
	res, err := s.tracker.Validate(r.Context(), &vigil.ValidateInput{Token: req.Token, UserID: req.UserID, ActionCode: req.Action})
	if err != nil {
		return err
	}
	resp := validateResponse{IsValid: res.IsValid}
	if a := res.Action; a != nil {
		resp.State = a.State
		resp.StateUpdatedAt = formatTime(a.StateUpdatedAt)
		resp.UserID = a.UserID
		resp.Action = a.Code
		resp.ActionCode = a.Code
		resp.IdempotencyKey = a.IdempotencyKey
		resp.VerificationMethod = a.VerificationMethod
	} else {
		resp.IsValid = false
	}
	return writeJSON(w, http.StatusOK, resp)
}
