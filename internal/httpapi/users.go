package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/vigil-auth/vigil"
)

// Paging of GET /v1/users.
const (
	defaultUserQueryLimit = 100
	maxUserQueryLimit     = 1000
)

// userGetResponse is the body of GET /v1/users/{userId} (contract §2.2).
type userGetResponse struct {
	IsEnrolled                  bool                       `json:"isEnrolled"`
	Email                       string                     `json:"email,omitempty"`
	EmailVerified               bool                       `json:"emailVerified"`
	PhoneNumber                 string                     `json:"phoneNumber,omitempty"`
	PhoneNumberVerified         bool                       `json:"phoneNumberVerified"`
	Username                    string                     `json:"username,omitempty"`
	DisplayName                 string                     `json:"displayName,omitempty"`
	Custom                      map[string]any             `json:"custom,omitempty"`
	EnrolledVerificationMethods []vigil.VerificationMethod `json:"enrolledVerificationMethods,omitempty"`
	AllowedVerificationMethods  []vigil.VerificationMethod `json:"allowedVerificationMethods,omitempty"`
	DefaultVerificationMethod   vigil.VerificationMethod   `json:"defaultVerificationMethod,omitempty"`
}

// handleUserGet serves GET /v1/users/{userId}. It answers 200 for unknown
// users too, with isEnrolled false, as the SDK tests expect after a delete.
// The attributes are the user's own: nothing is borrowed from an
// authenticator, so a user whose only authenticator is SMS reports no email.
func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	user, err := s.users.FindUserByID(r.Context(), userID)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		user, err = nil, nil
	}
	if err != nil {
		return err
	}
	auths, err := s.authenticators.FindAuthenticators(r.Context(), userID)
	if err != nil {
		return err
	}
	resp := userGetResponse{IsEnrolled: len(auths) > 0}
	if user != nil {
		resp.Email = user.Email
		resp.EmailVerified = user.EmailVerified
		resp.PhoneNumber = user.PhoneNumber
		resp.PhoneNumberVerified = user.PhoneNumberVerified
		resp.Username = user.Username
		resp.DisplayName = user.DisplayName
		resp.Custom = user.Custom
	}
	resp.EnrolledVerificationMethods = enrolledMethods(auths)
	for _, m := range resp.EnrolledVerificationMethods {
		if m.Implemented() {
			resp.AllowedVerificationMethods = append(resp.AllowedVerificationMethods, m)
		}
	}
	resp.DefaultVerificationMethod = defaultMethod(auths)
	return writeJSON(w, http.StatusOK, resp)
}

// enrolledMethods returns the distinct methods of auths in enrollment order.
func enrolledMethods(auths []*vigil.Authenticator) []vigil.VerificationMethod {
	var out []vigil.VerificationMethod
	seen := map[vigil.VerificationMethod]bool{}
	for _, a := range auths {
		if !seen[a.Method] {
			seen[a.Method] = true
			out = append(out, a.Method)
		}
	}
	return out
}

// defaultMethod returns the method of the authenticator marked default or,
// failing that, of the one most recently used to verify; "" if neither
// exists.
func defaultMethod(auths []*vigil.Authenticator) vigil.VerificationMethod {
	var last *vigil.Authenticator
	for _, a := range auths {
		if a.IsDefault {
			return a.Method
		}
		if !a.LastVerifiedAt.IsZero() && (last == nil || a.LastVerifiedAt.After(last.LastVerifiedAt)) {
			last = a
		}
	}
	if last != nil {
		return last.Method
	}
	return ""
}

// userSummary is one item of GET /v1/users.
type userSummary struct {
	UserID              string `json:"userId"`
	Email               string `json:"email,omitempty"`
	EmailVerified       bool   `json:"emailVerified"`
	PhoneNumber         string `json:"phoneNumber,omitempty"`
	PhoneNumberVerified bool   `json:"phoneNumberVerified"`
	Username            string `json:"username,omitempty"`
}

// userQueryResponse is the body of GET /v1/users. LastEvaluatedUserID is
// absent when there is no next page.
type userQueryResponse struct {
	Users               []userSummary `json:"users"`
	LastEvaluatedUserID string        `json:"lastEvaluatedUserId,omitempty"`
}

// handleUserQuery serves GET /v1/users: exact match on username, email or
// phoneNumber (at least one is required), keyset-paged by user ID.
//
// The token parameter asks to resolve a verification token into its claims
// (tokenPayload). Vigil issues no such tokens, so any token is refused with
// 400 rather than answered with an invented payload.
func (s *Server) handleUserQuery(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("token") {
		return vigil.Errorf(vigil.EINVALID, "The token is invalid.")
	}
	f := vigil.UserFilter{
		Username:    q.Get("username"),
		Email:       q.Get("email"),
		PhoneNumber: q.Get("phoneNumber"),
		After:       q.Get("lastEvaluatedUserId"),
	}
	if f.Username == "" && f.Email == "" && f.PhoneNumber == "" {
		return vigil.Errorf(vigil.EINVALID, "At least one of username, email or phoneNumber is required.")
	}
	for _, p := range []struct{ name, v string }{
		{"username", f.Username}, {"email", f.Email}, {"phoneNumber", f.PhoneNumber},
	} {
		if err := checkString(p.name, p.v, maxAttrBytes); err != nil {
			return err
		}
	}
	if f.After != "" {
		if err := checkID("lastEvaluatedUserId", f.After); err != nil {
			return err
		}
	}
	limit := defaultUserQueryLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxUserQueryLimit {
			return vigil.Errorf(vigil.EINVALID, "The parameter 'limit' must be an integer from 1 to %d.", maxUserQueryLimit)
		}
		limit = n
	}
	f.Limit = limit + 1 // one more, to learn whether there is a next page
	users, err := s.users.FindUsers(r.Context(), f)
	if err != nil {
		return err
	}
	resp := userQueryResponse{Users: make([]userSummary, 0, min(len(users), limit))}
	switch {
	case len(users) > limit:
		users = users[:limit]
		resp.LastEvaluatedUserID = users[limit-1].ID
	case len(users) == limit && limit == maxUserQueryLimit:
		// The store may cap a page at maxUserQueryLimit and so never
		// return the extra row; announce a next page, which may be empty,
		// rather than silently drop the rest.
		resp.LastEvaluatedUserID = users[limit-1].ID
	}
	for _, u := range users {
		resp.Users = append(resp.Users, userSummary{
			UserID:              u.ID,
			Email:               u.Email,
			EmailVerified:       u.EmailVerified,
			PhoneNumber:         u.PhoneNumber,
			PhoneNumberVerified: u.PhoneNumberVerified,
			Username:            u.Username,
		})
	}
	return writeJSON(w, http.StatusOK, resp)
}

// userUpdateRequest is the body of PATCH (and POST) /v1/users/{userId}.
// Absent and null keys leave the attribute unchanged; "" clears a string.
type userUpdateRequest struct {
	Email               *string         `json:"email"`
	EmailVerified       *bool           `json:"emailVerified"`
	PhoneNumber         *string         `json:"phoneNumber"`
	PhoneNumberVerified *bool           `json:"phoneNumberVerified"`
	Username            *string         `json:"username"`
	DisplayName         *string         `json:"displayName"`
	Custom              json.RawMessage `json:"custom"` // an object; replaces the stored one
	Locale              *string         `json:"locale"`
}

// toUpdate validates req and converts it to the domain update.
func (req *userUpdateRequest) toUpdate() (vigil.UserUpdate, error) {
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"email", req.Email}, {"phoneNumber", req.PhoneNumber}, {"username", req.Username},
		{"displayName", req.DisplayName}, {"locale", req.Locale},
	} {
		if f.v != nil {
			if err := checkString(f.name, *f.v, maxAttrBytes); err != nil {
				return vigil.UserUpdate{}, err
			}
		}
	}
	raw, err := checkCustomObject("custom", req.Custom)
	if err != nil {
		return vigil.UserUpdate{}, err
	}
	custom, err := decodeCustomMap(raw)
	if err != nil {
		return vigil.UserUpdate{}, err
	}
	return vigil.UserUpdate{
		Email:               req.Email,
		EmailVerified:       req.EmailVerified,
		PhoneNumber:         req.PhoneNumber,
		PhoneNumberVerified: req.PhoneNumberVerified,
		Username:            req.Username,
		DisplayName:         req.DisplayName,
		Locale:              req.Locale,
		Custom:              custom,
	}, nil
}

// userAttributesResponse is the body of PATCH /v1/users/{userId}: the
// user's attributes after the update.
type userAttributesResponse struct {
	Email               string         `json:"email,omitempty"`
	EmailVerified       bool           `json:"emailVerified"`
	PhoneNumber         string         `json:"phoneNumber,omitempty"`
	PhoneNumberVerified bool           `json:"phoneNumberVerified"`
	Username            string         `json:"username,omitempty"`
	DisplayName         string         `json:"displayName,omitempty"`
	Custom              map[string]any `json:"custom,omitempty"`
	Locale              string         `json:"locale,omitempty"`
}

// handleUserUpdate serves PATCH and POST /v1/users/{userId}: it creates the
// user if absent and applies a partial update.
func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	var req userUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	upd, err := req.toUpdate()
	if err != nil {
		return err
	}
	u, err := s.users.UpsertUser(r.Context(), userID, upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userAttributesResponse{
		Email:               u.Email,
		EmailVerified:       u.EmailVerified,
		PhoneNumber:         u.PhoneNumber,
		PhoneNumberVerified: u.PhoneNumberVerified,
		Username:            u.Username,
		DisplayName:         u.DisplayName,
		Custom:              u.Custom,
		Locale:              u.Locale,
	})
}

// handleUserDelete serves DELETE /v1/users/{userId}. Deleting an unknown
// user succeeds.
func (s *Server) handleUserDelete(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := s.users.DeleteUser(r.Context(), userID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}
