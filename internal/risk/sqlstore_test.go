package risk_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/risk"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/token"
)

// TestWithSQLStore runs the pipeline over the real store on SQLite, with
// the real cipher: track, replay, auto-created configuration, validation
// once, tenant isolation, and a second process (a fresh Issuer) verifying
// the token with the key it reads back from the database.
func TestWithSQLStore(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	tenants := sqlstore.NewTenantService(db)
	for _, id := range []string{"tenant-a", "tenant-b"} {
		if err := tenants.CreateTenant(ctx, &vigil.Tenant{ID: id, Name: id}, nil); err != nil {
			t.Fatalf("CreateTenant(%s): %v", id, err)
		}
	}
	actions := sqlstore.NewActionService(db)
	configs := sqlstore.NewActionConfigService(db)
	auths := sqlstore.NewAuthenticatorService(db)
	keys := sqlstore.NewSigningKeyService(db)
	newService := func() *risk.Service {
		return risk.New(risk.Config{PublicURL: publicURL}, risk.Deps{
			Actions: actions, Configs: configs, Authenticators: auths, Tenants: tenants,
			Tokens: token.New(keys, token.Options{}),
		})
	}
	svc := newService()
	a := vigil.NewContextWithTenant(ctx, "tenant-a")
	b := vigil.NewContextWithTenant(ctx, "tenant-b")

	// Unknown action code: the configuration is created, ALLOW.
	res, err := svc.Track(a, &vigil.TrackInput{UserID: "u1", ActionCode: "firstSeen"})
	if err != nil {
		t.Fatalf("Track: %v", err)
	}
	if res.Action.State != vigil.StateAllow {
		t.Errorf("state = %s, want ALLOW", res.Action.State)
	}
	if cfg, err := configs.FindActionConfig(a, "firstSeen"); err != nil || cfg.DefaultOutcome != vigil.OutcomeAllow {
		t.Errorf("auto-created configuration = %+v, %v; want default outcome ALLOW", cfg, err)
	}

	// CHALLENGE for a user without authenticators: trust on first use.
	if err := configs.CreateActionConfig(a, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge}); err != nil {
		t.Fatal(err)
	}
	in := &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "key-1",
		Context: vigil.ActionContext{IPAddress: "203.0.113.9", Custom: json.RawMessage(`{"amount":10}`)}}
	first, err := svc.Track(a, in)
	if err != nil {
		t.Fatalf("Track(signIn): %v", err)
	}
	if first.Action.State != vigil.StateChallengeRequired || first.Action.IsEnrolled {
		t.Errorf("unenrolled CHALLENGE = %s enrolled=%v, want CHALLENGE_REQUIRED enrolled=false", first.Action.State, first.Action.IsEnrolled)
	}

	// Replay from another process: same token and action.
	other := newService()
	again, err := other.Track(a, in)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if !again.Replayed || again.Token != first.Token || again.Action.ID != first.Action.ID {
		t.Errorf("replay = replayed %v, same token %v, same action %v; want all true",
			again.Replayed, again.Token == first.Token, again.Action.ID == first.Action.ID)
	}
	changed := *in
	changed.Context.IPAddress = "203.0.113.10"
	if _, err := svc.Track(a, &changed); vigil.ErrorCode(err) != vigil.EUNPROCESSABLE {
		t.Errorf("reused key with another payload: %v, want %s", err, vigil.EUNPROCESSABLE)
	}

	// Validate: not yet, then once, then never again; never in tenant-b.
	if r, err := other.Validate(a, &vigil.ValidateInput{Token: first.Token}); err != nil || r.IsValid || r.Action == nil ||
		r.Action.State != vigil.StateChallengeRequired {
		t.Errorf("Validate(CHALLENGE_REQUIRED) = %+v, %v", r, err)
	}
	if _, err := actions.UpdateActionState(a, "u1", "signIn", "key-1", vigil.StateChallengeSucceeded); err != nil {
		t.Fatal(err)
	}
	if r, err := svc.Validate(b, &vigil.ValidateInput{Token: first.Token}); err != nil || r.IsValid || r.Action != nil {
		t.Errorf("Validate in tenant-b = %+v, %v; want isValid false, no action", r, err)
	}
	if r, err := svc.Validate(a, &vigil.ValidateInput{Token: first.Token, UserID: "u1", ActionCode: "signIn"}); err != nil || !r.IsValid {
		t.Errorf("first Validate = %+v, %v; want isValid true", r, err)
	}
	if r, err := other.Validate(a, &vigil.ValidateInput{Token: first.Token}); err != nil || r.IsValid ||
		r.Action == nil || r.Action.State != vigil.StateChallengeSucceeded {
		t.Errorf("second Validate = %+v, %v; want isValid false with CHALLENGE_SUCCEEDED", r, err)
	}

	// An enrolled user is challenged with their methods.
	if err := auths.CreateAuthenticator(a, &vigil.Authenticator{UserID: "u2", Method: vigil.MethodEmailOTP, Email: "u2@example.com", IsDefault: true}); err != nil {
		t.Fatal(err)
	}
	res, err = svc.Track(a, &vigil.TrackInput{UserID: "u2", ActionCode: "signIn"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Action.IsEnrolled || len(res.Action.AllowedMethods) != 1 || res.Action.DefaultMethod != vigil.MethodEmailOTP {
		t.Errorf("enrolled user: enrolled=%v allowed=%v default=%s", res.Action.IsEnrolled, res.Action.AllowedMethods, res.Action.DefaultMethod)
	}
	stored, err := actions.FindAction(a, "u2", "signIn", res.Action.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.TokenIssuedAt.Equal(res.Action.TokenIssuedAt) || !stored.TokenExpiresAt.Equal(res.Action.TokenExpiresAt) {
		t.Errorf("stored token times %v..%v, want %v..%v", stored.TokenIssuedAt, stored.TokenExpiresAt,
			res.Action.TokenIssuedAt, res.Action.TokenExpiresAt)
	}
	// The store tells the pipeline's configuration cache about its own
	// writes: a change applies to the next track, not a TTL later.
	if _, err := configs.UpsertActionConfig(a, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeBlock}); err != nil {
		t.Fatal(err)
	}
	if res, err := svc.Track(a, &vigil.TrackInput{UserID: "u2", ActionCode: "signIn"}); err != nil || res.Action.State != vigil.StateBlock {
		t.Errorf("track after the configuration changed = %+v, %v; want BLOCK", res, err)
	}
}

var _ risk.ConfigVersioner = (*sqlstore.ActionConfigService)(nil)
