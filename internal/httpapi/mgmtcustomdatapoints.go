package httpapi

import (
	"net/http"

	"github.com/vigil-auth/vigil"
)

// customDataPointResponse is a CustomDataPoint (contract §4.3).
// description is "" when unset (contract §4.1 "Drift-free reads").
type customDataPointResponse struct {
	ID          string `json:"id"`
	TenantID    string `json:"tenantId"`
	Name        string `json:"name"`
	DataType    string `json:"dataType"`
	ModelType   string `json:"modelType"`
	Description string `json:"description"`
	IsPublic    bool   `json:"isPublic"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
}

func newCustomDataPointResponse(c *vigil.CustomDataPoint) customDataPointResponse {
	return customDataPointResponse{
		ID:          c.ID,
		TenantID:    c.TenantID,
		Name:        c.Name,
		DataType:    c.DataType,
		ModelType:   c.ModelType,
		Description: c.Description,
		IsPublic:    c.IsPublic,
		CreatedAt:   formatTime(c.CreatedAt),
		UpdatedAt:   formatTime(c.UpdatedAt),
	}
}

// customDataPointRequired are the keys a new point must have, and that a
// PATCH cannot set to null.
var customDataPointRequired = []string{"name", "dataType", "modelType"}

// applyCustomDataPoint applies the keys present in f to c: absent keys
// leave a field unchanged; null clears description and resets isPublic to
// false (name, dataType and modelType cannot be null). The store checks
// that the model type and name are free.
func applyCustomDataPoint(c *vigil.CustomDataPoint, f fields) error {
	for _, k := range customDataPointRequired {
		if err := f.notNull(k); err != nil {
			return err
		}
	}
	var err error
	if f.has("name") {
		if c.Name, err = f.str("name", 64); err != nil {
			return err
		}
		if !vigil.ValidCustomDataPointName(c.Name) {
			return vigil.Errorf(vigil.EINVALID, "The field 'name' must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$.")
		}
	}
	if f.has("dataType") {
		if c.DataType, err = f.str("dataType", 16); err != nil {
			return err
		}
		if !vigil.ValidCustomDataType(c.DataType) {
			return vigil.Errorf(vigil.EINVALID, "The field 'dataType' must be one of text, number, boolean, multiselect.")
		}
	}
	if f.has("modelType") {
		if c.ModelType, err = f.str("modelType", 16); err != nil {
			return err
		}
		if !vigil.ValidCustomModelType(c.ModelType) {
			return vigil.Errorf(vigil.EINVALID, "The field 'modelType' must be one of user, action.")
		}
	}
	if f.has("description") {
		if c.Description, err = f.str("description", vigil.MaxCustomDataPointDescriptionBytes); err != nil {
			return err
		}
	}
	if f.has("isPublic") {
		if c.IsPublic, err = f.boolean("isPublic"); err != nil {
			return err
		}
	}
	return nil
}

// pathCustomDataPointID returns the id path segment; one that no point
// can have is a 404.
func pathCustomDataPointID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !vigil.ValidCustomDataPointID(id) {
		return "", vigil.Errorf(vigil.ENOTFOUND, "Custom data point not found.")
	}
	return id, nil
}

// handleCustomDataPointCreate serves POST /custom-data-points. The id is
// generated (a UUID) unless given; 409 if the id, or the model type and
// name, are taken.
func (s *Server) handleCustomDataPointCreate(w http.ResponseWriter, r *http.Request) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	for _, k := range customDataPointRequired {
		if err := f.required(k); err != nil {
			return err
		}
	}
	c := &vigil.CustomDataPoint{}
	if err := applyCustomDataPoint(c, f); err != nil {
		return err
	}
	if c.ID, err = f.str("id", 64); err != nil {
		return err
	}
	if c.ID != "" && !vigil.ValidCustomDataPointID(c.ID) {
		return vigil.Errorf(vigil.EINVALID, "The field 'id' must match ^[A-Za-z0-9_-]{1,64}$.")
	}
	if err := s.customDataPoints.CreateCustomDataPoint(r.Context(), c); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newCustomDataPointResponse(c))
}

// handleCustomDataPointGet serves GET /custom-data-points/{id}.
func (s *Server) handleCustomDataPointGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathCustomDataPointID(r)
	if err != nil {
		return err
	}
	c, err := s.customDataPoints.FindCustomDataPoint(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newCustomDataPointResponse(c))
}

// handleCustomDataPointList serves GET /custom-data-points, by name.
func (s *Server) handleCustomDataPointList(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.customDataPoints.FindCustomDataPoints(r.Context())
	if err != nil {
		return err
	}
	out := make([]customDataPointResponse, len(cs))
	for i, c := range cs {
		out[i] = newCustomDataPointResponse(c)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleCustomDataPointUpdate serves PATCH /custom-data-points/{id}: a
// read-modify-write in one store transaction. The id never changes; a body
// id other than the path's is a 400.
func (s *Server) handleCustomDataPointUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathCustomDataPointID(r)
	if err != nil {
		return err
	}
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	if f.set("id") {
		if body, err := f.str("id", 64); err != nil {
			return err
		} else if body != id {
			return vigil.Errorf(vigil.EINVALID, "The field 'id' cannot be changed.")
		}
	}
	c, err := s.customDataPoints.UpdateCustomDataPoint(r.Context(), id, func(c *vigil.CustomDataPoint) error {
		return applyCustomDataPoint(c, f)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newCustomDataPointResponse(c))
}

// handleCustomDataPointDelete serves DELETE /custom-data-points/{id}.
func (s *Server) handleCustomDataPointDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathCustomDataPointID(r)
	if err != nil {
		return err
	}
	if err := s.customDataPoints.DeleteCustomDataPoint(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}
