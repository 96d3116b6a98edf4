package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/vigil-auth/vigil"
)

// The Management API (contract §4): action configurations, their rules and
// value lists, authenticated with the tenant's Management API secret.

// managementPrefixes are the two spellings of the action configuration
// collection: the SDK's hyphen and the docs' underscore (contract §4.2).
var managementPrefixes = []string{"/v1/management/action-configurations", "/v1/management/action_configurations"}

// managementRoutes registers every Management API route on mux.
func (s *Server) managementRoutes(mux *http.ServeMux) {
	for _, p := range managementPrefixes {
		s.route(mux, "GET "+p, s.handleActionConfigList)
		s.route(mux, "POST "+p, s.handleActionConfigCreate)
		s.route(mux, "POST "+p+"/{actionCode}", s.handleActionConfigCreate)
		s.route(mux, "GET "+p+"/{actionCode}", s.handleActionConfigGet)
		s.route(mux, "PATCH "+p+"/{actionCode}", s.handleActionConfigUpdate)
		s.route(mux, "DELETE "+p+"/{actionCode}", s.handleActionConfigDelete)
		s.route(mux, "GET "+p+"/{actionCode}/rules", s.handleRuleList)
		s.route(mux, "POST "+p+"/{actionCode}/rules", s.handleRuleCreate)
		s.route(mux, "GET "+p+"/{actionCode}/rules/{ruleId}", s.handleRuleGet)
		s.route(mux, "PATCH "+p+"/{actionCode}/rules/{ruleId}", s.handleRuleUpdate)
		s.route(mux, "DELETE "+p+"/{actionCode}/rules/{ruleId}", s.handleRuleDelete)
		if s.simulator != nil {
			s.route(mux, "POST "+p+"/{actionCode}/simulate", s.handleRuleSimulate)
		}
	}
	s.route(mux, "GET /v1/management/value-lists", s.handleValueListList)
	s.route(mux, "POST /v1/management/value-lists", s.handleValueListCreate)
	s.route(mux, "GET /v1/management/value-lists/{alias}", s.handleValueListGet)
	s.route(mux, "PATCH /v1/management/value-lists/{alias}", s.handleValueListUpdate)
	s.route(mux, "DELETE /v1/management/value-lists/{alias}", s.handleValueListDelete)
	s.route(mux, "GET /v1/management/theme", s.handleThemeGet)
	s.route(mux, "PATCH /v1/management/theme", s.handleThemeUpdate)
	if s.customDataPoints != nil {
		s.route(mux, "GET /v1/management/custom-data-points", s.handleCustomDataPointList)
		s.route(mux, "POST /v1/management/custom-data-points", s.handleCustomDataPointCreate)
		s.route(mux, "GET /v1/management/custom-data-points/{id}", s.handleCustomDataPointGet)
		s.route(mux, "PATCH /v1/management/custom-data-points/{id}", s.handleCustomDataPointUpdate)
		s.route(mux, "DELETE /v1/management/custom-data-points/{id}", s.handleCustomDataPointDelete)
	}
}

// requireManagementSecret authenticates the Management API: Basic auth
// with the tenant's Management API secret as the user name and an empty
// password (contract §4.1). A Server API secret does not open it: keys are
// looked up by kind. Failures get the same 401 body as the Server API.
func (s *Server) requireManagementSecret(next http.Handler) http.Handler {
	return s.requireKey(vigil.KeyManagement, `Basic realm="Vigil Management API"`, next)
}

// actionConfigResponse is an ActionConfiguration (contract §4.3). Unset
// method lists and default method are omitted, never [] or null
// (contract §4.1 "Drift-free reads"); messagingTemplates is null when
// unset and otherwise the stored JSON; lastActionCreatedAt is "" until an
// action is tracked.
type actionConfigResponse struct {
	TenantID                          string          `json:"tenantId"`
	ActionCode                        string          `json:"actionCode"`
	DefaultUserActionResult           vigil.Outcome   `json:"defaultUserActionResult"`
	LastActionCreatedAt               string          `json:"lastActionCreatedAt"`
	MessagingTemplates                json.RawMessage `json:"messagingTemplates"`
	VerificationMethods               []string        `json:"verificationMethods,omitempty"`
	PromptToEnrollVerificationMethods []string        `json:"promptToEnrollVerificationMethods,omitempty"`
	DefaultVerificationMethod         string          `json:"defaultVerificationMethod,omitempty"`
	VerificationWebhookURL            string          `json:"verificationWebhookUrl,omitempty"`
}

func newActionConfigResponse(c *vigil.ActionConfig) actionConfigResponse {
	return actionConfigResponse{
		TenantID:                          c.TenantID,
		ActionCode:                        c.ActionCode,
		DefaultUserActionResult:           c.DefaultOutcome,
		LastActionCreatedAt:               formatTime(c.LastActionCreatedAt),
		MessagingTemplates:                c.MessagingTemplates,
		VerificationMethods:               methodStrings(c.VerificationMethods),
		PromptToEnrollVerificationMethods: methodStrings(c.PromptToEnrollMethods),
		DefaultVerificationMethod:         string(c.DefaultVerificationMethod),
		VerificationWebhookURL:            c.VerificationWebhookURL,
	}
}

// pathCode returns the validated actionCode path segment.
func pathCode(r *http.Request) (string, error) {
	code := r.PathValue("actionCode")
	return code, checkActionCode("actionCode", code)
}

// applyActionConfig applies the keys present in f to c: absent keys leave
// a field unchanged, null clears it (defaultUserActionResult cannot be
// cleared). It then checks the fields together.
func applyActionConfig(c *vigil.ActionConfig, f fields) error {
	var err error
	if f.has("defaultUserActionResult") {
		if err := f.notNull("defaultUserActionResult"); err != nil {
			return err
		}
		if c.DefaultOutcome, err = f.outcome("defaultUserActionResult"); err != nil {
			return err
		}
	}
	if f.has("verificationMethods") {
		if c.VerificationMethods, err = f.methods("verificationMethods"); err != nil {
			return err
		}
	}
	if f.has("promptToEnrollVerificationMethods") {
		if c.PromptToEnrollMethods, err = f.methods("promptToEnrollVerificationMethods"); err != nil {
			return err
		}
	}
	if f.has("defaultVerificationMethod") {
		if c.DefaultVerificationMethod, err = f.method("defaultVerificationMethod"); err != nil {
			return err
		}
	}
	if f.has("messagingTemplates") {
		if c.MessagingTemplates, err = f.rawObject("messagingTemplates"); err != nil {
			return err
		}
	}
	if f.has("verificationWebhookUrl") {
		if c.VerificationWebhookURL, err = f.webhookURL("verificationWebhookUrl"); err != nil {
			return err
		}
	}
	if m := c.DefaultVerificationMethod; m != "" && c.VerificationMethods != nil && !slices.Contains(c.VerificationMethods, m) {
		return vigil.Errorf(vigil.EINVALID, "The field 'defaultVerificationMethod' must be one of verificationMethods.")
	}
	return nil
}

// handleActionConfigCreate serves POST /action-configurations (code in the
// body) and POST /action-configurations/{actionCode}. 409 if it exists.
func (s *Server) handleActionConfigCreate(w http.ResponseWriter, r *http.Request) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	code := r.PathValue("actionCode")
	if code != "" {
		if err := checkActionCode("actionCode", code); err != nil {
			return err
		}
		if f.set("actionCode") {
			if body, err := f.str("actionCode", 64); err != nil {
				return err
			} else if body != code {
				return vigil.Errorf(vigil.EINVALID, "The field 'actionCode' does not match the path.")
			}
		}
	} else {
		if err := f.required("actionCode"); err != nil {
			return err
		}
		if code, err = f.str("actionCode", 64); err != nil {
			return err
		}
		if err := checkActionCode("actionCode", code); err != nil {
			return err
		}
	}
	if err := f.required("defaultUserActionResult"); err != nil {
		return err
	}
	c := &vigil.ActionConfig{ActionCode: code}
	if err := applyActionConfig(c, f); err != nil {
		return err
	}
	if err := s.configs.CreateActionConfig(r.Context(), c); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActionConfigResponse(c))
}

// handleActionConfigGet serves GET /action-configurations/{actionCode}.
func (s *Server) handleActionConfigGet(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	c, err := s.configs.FindActionConfig(r.Context(), code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActionConfigResponse(c))
}

// handleActionConfigList serves GET /action-configurations: every
// configuration of the tenant, by action code.
func (s *Server) handleActionConfigList(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.configs.FindActionConfigs(r.Context())
	if err != nil {
		return err
	}
	out := make([]actionConfigResponse, len(cs))
	for i, c := range cs {
		out[i] = newActionConfigResponse(c)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleActionConfigUpdate serves PATCH /action-configurations/{actionCode}:
// a read-modify-write in one store transaction.
func (s *Server) handleActionConfigUpdate(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	c, err := s.configs.UpdateActionConfig(r.Context(), code, func(c *vigil.ActionConfig) error {
		return applyActionConfig(c, f)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newActionConfigResponse(c))
}

// handleActionConfigDelete serves DELETE /action-configurations/{actionCode};
// the rules of the configuration go with it.
func (s *Server) handleActionConfigDelete(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	if err := s.configs.DeleteActionConfig(r.Context(), code); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}
