package vigil

import "context"

type contextKey int

const (
	tenantIDContextKey contextKey = iota + 1
	requestIDContextKey
)

// NewContextWithTenant returns a copy of ctx carrying the ID of the tenant on
// whose behalf the caller acts. Store methods read it to scope every query.
func NewContextWithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, tenantIDContextKey, tenantID)
}

// TenantIDFromContext returns the tenant ID carried by ctx, or "" if none.
func TenantIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(tenantIDContextKey).(string)
	return id
}

// RequireTenant returns the tenant ID carried by ctx, or an EUNAUTHORIZED
// error when there is none, so that a missing principal fails closed.
func RequireTenant(ctx context.Context) (string, error) {
	id := TenantIDFromContext(ctx)
	if id == "" {
		return "", Errorf(EUNAUTHORIZED, "No tenant in context.")
	}
	return id, nil
}

// NewContextWithRequestID returns a copy of ctx carrying a request ID for log
// correlation.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDContextKey, id)
}

// RequestIDFromContext returns the request ID carried by ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey).(string)
	return id
}
