package httpapi

import (
	"net/http"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// Server-side OTP challenges (contract server-api.md §2.5): the backend
// sends a code (/v1/challenge), checks it (/v1/verify), assigns it to a user
// (/v1/claim), and looks up the active challenge (/v1/challenges).

type startChallengeResponse struct {
	ChallengeID    string `json:"challengeId"`
	IdempotencyKey string `json:"idempotencyKey"`
	ExpiresAt      int64  `json:"expiresAt"` // unix seconds
}

// handleChallengeStart serves POST /v1/challenge. Go sends
// verificationMethod and action even when empty.
func (s *Server) handleChallengeStart(w http.ResponseWriter, r *http.Request) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	for _, k := range []string{"verificationMethod", "action"} {
		if err := f.required(k); err != nil {
			return err
		}
	}
	m, err := f.method("verificationMethod")
	if err != nil {
		return err
	}
	in := challengeStartInput{}
	for _, x := range []struct {
		key string
		dst *string
	}{{"action", &in.action}, {"email", &in.email}, {"phoneNumber", &in.phone}, {"userId", &in.userID},
		{"idempotencyKey", &in.key}, {"locale", &in.locale}, {"smsChannel", &in.channel}} {
		if *x.dst, err = f.str(x.key, maxAttrBytes); err != nil {
			return err
		}
	}
	if in.channel != "" && in.channel != "DEFAULT" && in.channel != "SMS" {
		return vigil.Errorf(vigil.EINVALID, "smsChannel %q is not supported: Vigil sends SMS only.", in.channel)
	}
	if in.key != "" {
		if err := checkID("idempotencyKey", in.key); err != nil {
			return err
		}
	}
	started, err := s.challenges.Start(r.Context(), in.toStart(m))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, startChallengeResponse{ChallengeID: started.ChallengeID,
		IdempotencyKey: started.IdempotencyKey, ExpiresAt: started.ExpiresAt.Unix()})
}

type serverVerifyResponse struct {
	IsVerified         bool   `json:"isVerified"`
	Email              string `json:"email,omitempty"`
	PhoneNumber        string `json:"phoneNumber,omitempty"`
	VerificationMethod string `json:"verificationMethod,omitempty"`
	FailureReason      string `json:"failureReason,omitempty"`
}

// handleChallengeVerify serves POST /v1/verify: a wrong code is a 200 with
// isVerified false.
func (s *Server) handleChallengeVerify(w http.ResponseWriter, r *http.Request) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	for _, k := range []string{"challengeId", "verificationCode"} {
		if err := f.required(k); err != nil {
			return err
		}
	}
	id, err := f.str("challengeId", maxAttrBytes)
	if err != nil {
		return err
	}
	code, err := f.str("verificationCode", 64)
	if err != nil {
		return err
	}
	res, err := s.challenges.Check(r.Context(), id, code)
	if err != nil {
		return err
	}
	out := serverVerifyResponse{IsVerified: res.IsVerified, FailureReason: res.FailureReason}
	if c := res.Challenge; c != nil && res.IsVerified {
		out.VerificationMethod = string(c.Method)
		if c.Method == vigil.MethodSMS {
			out.PhoneNumber = c.Destination
		} else {
			out.Email = c.Destination
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

type claimResponse struct {
	Token              string `json:"token"`
	VerificationMethod string `json:"verificationMethod"`
}

// handleChallengeClaim serves POST /v1/claim.
func (s *Server) handleChallengeClaim(w http.ResponseWriter, r *http.Request) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	for _, k := range []string{"challengeId", "userId"} {
		if err := f.required(k); err != nil {
			return err
		}
	}
	id, err := f.str("challengeId", maxAttrBytes)
	if err != nil {
		return err
	}
	userID, err := f.str("userId", maxAttrBytes)
	if err != nil {
		return err
	}
	if err := checkID("userId", userID); err != nil {
		return err
	}
	skip := false
	if f.set("skipVerificationCheck") {
		if skip, err = f.boolean("skipVerificationCheck"); err != nil {
			return err
		}
	}
	res, err := s.challenges.Claim(r.Context(), id, userID, skip)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, claimResponse{Token: res.Token, VerificationMethod: string(res.Method)})
}

type activeChallengeResponse struct {
	ChallengeID        string `json:"challengeId,omitempty"`
	ExpiresAt          int64  `json:"expiresAt,omitempty"`
	VerificationMethod string `json:"verificationMethod,omitempty"`
	PhoneNumber        string `json:"phoneNumber,omitempty"`
	Email              string `json:"email,omitempty"`
	Action             string `json:"action,omitempty"`
}

// handleChallengeQuery serves GET (and POST) /v1/challenges: the active
// challenge by challengeId, or by userId and action (and
// verificationMethod); {} when there is none.
func (s *Server) handleChallengeQuery(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id, userID, action := q.Get("challengeId"), q.Get("userId"), q.Get("action")
	m := vigil.VerificationMethod(q.Get("verificationMethod"))
	if m != "" && !m.Valid() {
		return vigil.Errorf(vigil.EINVALID, "Unknown verificationMethod.")
	}
	if id == "" && (userID == "" || action == "") {
		return vigil.Errorf(vigil.EINVALID, "Give challengeId, or userId and action.")
	}
	c, err := s.challenges.Lookup(r.Context(), id, userID, action, m)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return writeJSON(w, http.StatusOK, activeChallengeResponse{})
	} else if err != nil {
		return err
	}
	if c.State != vigil.ChallengePending && c.State != vigil.ChallengeVerified || !s.now().Before(c.ExpiresAt) {
		return writeJSON(w, http.StatusOK, activeChallengeResponse{})
	}
	out := activeChallengeResponse{ChallengeID: c.ID, ExpiresAt: c.ExpiresAt.Unix(), VerificationMethod: string(c.Method),
		Action: c.Action.ActionCode}
	if c.Method == vigil.MethodSMS {
		out.PhoneNumber = c.Destination
	} else {
		out.Email = c.Destination
	}
	return writeJSON(w, http.StatusOK, out)
}

// challengeStartInput holds the string fields of POST /v1/challenge.
type challengeStartInput struct {
	action, email, phone, userID, key, locale, channel string
}

func (in *challengeStartInput) toStart(m vigil.VerificationMethod) *challenge.StartInput {
	return &challenge.StartInput{Method: m, ActionCode: in.action, Email: in.email, PhoneNumber: in.phone,
		UserID: in.userID, IdempotencyKey: in.key, Locale: in.locale}
}
