package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-auth/vigil"
)

// This file holds small map-backed implementations of the vigil service
// interfaces, so that the HTTP tests do not depend on the store. They are
// tenant-scoped like the real ones and fail closed without a tenant.

var (
	_ vigil.TenantService        = (*fakeTenants)(nil)
	_ vigil.UserService          = (*fakeStore)(nil)
	_ vigil.AuthenticatorService = (*fakeStore)(nil)
	_ vigil.ActionService        = (*fakeStore)(nil)
	_ vigil.ActionConfigService  = (*fakeStore)(nil)
	_ vigil.ActionTracker        = (*fakeTracker)(nil)
)

// fakeTenants authenticates secrets against in-memory keys.
type fakeTenants struct {
	mu        sync.Mutex
	tenants   map[string]*vigil.Tenant
	keys      []*vigil.APIKey
	authCalls int
	authErr   error // returned by AuthenticateKey when set
	now       func() time.Time
}

func newFakeTenants(now func() time.Time) *fakeTenants {
	return &fakeTenants{tenants: map[string]*vigil.Tenant{}, now: now}
}

// add creates a tenant with one server secret.
func (f *fakeTenants) add(id, serverSecret string) {
	if err := f.CreateTenant(context.Background(), &vigil.Tenant{ID: id, Name: id}, []*vigil.APIKey{
		{ID: "key-" + id, TenantID: id, Kind: vigil.KeyServer, Hash: vigil.HashSecret(serverSecret)},
	}); err != nil {
		panic(err)
	}
}

func (f *fakeTenants) CreateTenant(ctx context.Context, t *vigil.Tenant, keys []*vigil.APIKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tenants[t.ID]; ok {
		return vigil.Errorf(vigil.ECONFLICT, "Tenant exists.")
	}
	t.CreatedAt, t.UpdatedAt = f.now(), f.now()
	f.tenants[t.ID] = t
	f.keys = append(f.keys, keys...)
	return nil
}

func (f *fakeTenants) FindTenantByID(ctx context.Context, id string) (*vigil.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[id]
	if !ok {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "Tenant not found.")
	}
	return t, nil
}

func (f *fakeTenants) FindTenants(ctx context.Context) ([]*vigil.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*vigil.Tenant
	for _, t := range f.tenants {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (f *fakeTenants) UpdateTenant(ctx context.Context, id string, upd vigil.TenantUpdate) (*vigil.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tenants[id]
	if !ok {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "Tenant not found.")
	}
	if upd.Name != nil {
		t.Name = *upd.Name
	}
	if upd.TokenTTL != nil {
		t.TokenTTL = *upd.TokenTTL
	}
	return t, nil
}

func (f *fakeTenants) AuthenticateKey(ctx context.Context, kind vigil.KeyKind, hash []byte) (*vigil.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authCalls++
	if f.authErr != nil {
		return nil, f.authErr
	}
	for _, k := range f.keys {
		if k.Kind == kind && string(k.Hash) == string(hash) && k.Active(f.now()) {
			return f.tenants[k.TenantID], nil
		}
	}
	return nil, vigil.Errorf(vigil.EUNAUTHORIZED, "Invalid key.")
}

func (f *fakeTenants) FindAPIKeys(ctx context.Context, tenantID string) ([]*vigil.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*vigil.APIKey
	for _, k := range f.keys {
		if k.TenantID == tenantID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeTenants) RotateKey(ctx context.Context, key *vigil.APIKey, overlapUntil time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tenants[key.TenantID]; !ok {
		return vigil.Errorf(vigil.ENOTFOUND, "Tenant not found.")
	}
	for _, k := range f.keys {
		if k.TenantID == key.TenantID && k.Kind == key.Kind && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(overlapUntil)) {
			k.ExpiresAt = overlapUntil
		}
	}
	f.keys = append(f.keys, key)
	return nil
}

func (f *fakeTenants) EnsureKey(ctx context.Context, key *vigil.APIKey, overlapUntil time.Time) (bool, error) {
	f.mu.Lock()
	for _, k := range f.keys {
		if k.TenantID == key.TenantID && k.Kind == key.Kind && string(k.Hash) == string(key.Hash) && k.Active(f.now()) {
			f.mu.Unlock()
			return false, nil
		}
	}
	f.mu.Unlock()
	return true, f.RotateKey(ctx, key, overlapUntil)
}

// fakeStore holds users, authenticators, actions and action configurations
// per tenant.
type fakeStore struct {
	mu      sync.Mutex
	now     func() time.Time
	seq     int
	users   map[string]*vigil.User         // tenant/user
	auths   []*vigil.Authenticator         // all tenants, creation order
	actions []*vigil.Action                // all tenants, creation order
	configs map[string]*vigil.ActionConfig // tenant/code
	failing map[string]error               // method name -> error to return
	lastFil map[string]vigil.ActionFilter  // tenant -> last FindActions filter
	lastUF  map[string]vigil.UserFilter    // tenant -> last FindUsers filter
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{
		now: now, users: map[string]*vigil.User{}, configs: map[string]*vigil.ActionConfig{},
		failing: map[string]error{}, lastFil: map[string]vigil.ActionFilter{}, lastUF: map[string]vigil.UserFilter{},
	}
}

func (s *fakeStore) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%04d", prefix, s.seq)
}

func cloneUser(u *vigil.User) *vigil.User {
	c := *u
	if u.Custom != nil {
		c.Custom = map[string]any{}
		for k, v := range u.Custom {
			c.Custom[k] = v
		}
	}
	return &c
}

func (s *fakeStore) FindUserByID(ctx context.Context, id string) (*vigil.User, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failing["FindUserByID"]; err != nil {
		return nil, err
	}
	u, ok := s.users[tid+"/"+id]
	if !ok {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "User not found.")
	}
	return cloneUser(u), nil
}

func (s *fakeStore) FindUsers(ctx context.Context, f vigil.UserFilter) ([]*vigil.User, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUF[tid] = f
	var out []*vigil.User
	for _, u := range s.users {
		if u.TenantID != tid ||
			(f.Username != "" && u.Username != f.Username) ||
			(f.Email != "" && u.Email != f.Email) ||
			(f.PhoneNumber != "" && u.PhoneNumber != f.PhoneNumber) ||
			(f.After != "" && u.ID <= f.After) {
			continue
		}
		out = append(out, cloneUser(u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (s *fakeStore) upsertUserLocked(tid, id string, upd vigil.UserUpdate) *vigil.User {
	u, ok := s.users[tid+"/"+id]
	if !ok {
		u = &vigil.User{TenantID: tid, ID: id, CreatedAt: s.now()}
		s.users[tid+"/"+id] = u
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Email, upd.Email)
	set(&u.PhoneNumber, upd.PhoneNumber)
	set(&u.Username, upd.Username)
	set(&u.DisplayName, upd.DisplayName)
	set(&u.Locale, upd.Locale)
	if upd.EmailVerified != nil {
		u.EmailVerified = *upd.EmailVerified
	}
	if upd.PhoneNumberVerified != nil {
		u.PhoneNumberVerified = *upd.PhoneNumberVerified
	}
	if upd.Custom != nil {
		u.Custom = upd.Custom
	}
	u.UpdatedAt = s.now()
	return u
}

func (s *fakeStore) UpsertUser(ctx context.Context, id string, upd vigil.UserUpdate) (*vigil.User, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneUser(s.upsertUserLocked(tid, id, upd)), nil
}

func (s *fakeStore) DeleteUser(ctx context.Context, id string) error {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, tid+"/"+id)
	s.auths = slices.DeleteFunc(s.auths, func(a *vigil.Authenticator) bool { return a.TenantID == tid && a.UserID == id })
	s.actions = slices.DeleteFunc(s.actions, func(a *vigil.Action) bool { return a.TenantID == tid && a.UserID == id })
	return nil
}

func (s *fakeStore) FindAuthenticators(ctx context.Context, userID string) ([]*vigil.Authenticator, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*vigil.Authenticator{}
	for _, a := range s.auths {
		if a.TenantID == tid && a.UserID == userID {
			c := *a
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *fakeStore) createAuthenticatorLocked(tid string, a *vigil.Authenticator) error {
	for _, b := range s.auths {
		if b.TenantID != tid {
			continue
		}
		if a.Credential != nil && b.Credential != nil && a.Credential.CredentialID == b.Credential.CredentialID {
			return vigil.Errorf(vigil.ECONFLICT, "Credential exists.")
		}
		if b.UserID == a.UserID && b.Method == a.Method && a.Credential == nil &&
			((a.Email != "" && b.Email == a.Email) || (a.PhoneNumber != "" && b.PhoneNumber == a.PhoneNumber)) {
			b.IsDefault, b.VerifiedAt = a.IsDefault, a.VerifiedAt
			*a = *b
			return nil
		}
	}
	if _, ok := s.users[tid+"/"+a.UserID]; !ok {
		s.upsertUserLocked(tid, a.UserID, vigil.UserUpdate{})
	}
	a.TenantID = tid
	a.ID = s.nextID("auth")
	a.CreatedAt = s.now()
	c := *a
	s.auths = append(s.auths, &c)
	return nil
}

func (s *fakeStore) CreateAuthenticator(ctx context.Context, a *vigil.Authenticator) error {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAuthenticatorLocked(tid, a)
}

func (s *fakeStore) CreateAuthenticators(ctx context.Context, as []*vigil.Authenticator) ([]error, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(as))
	for i, a := range as {
		errs[i] = s.createAuthenticatorLocked(tid, a)
	}
	return errs, nil
}

func (s *fakeStore) DeleteAuthenticator(ctx context.Context, userID, id string) error {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.auths)
	s.auths = slices.DeleteFunc(s.auths, func(a *vigil.Authenticator) bool {
		return a.TenantID == tid && a.UserID == userID && a.ID == id
	})
	if len(s.auths) == n {
		return vigil.Errorf(vigil.ENOTFOUND, "Authenticator not found.")
	}
	return nil
}

func cloneAction(a *vigil.Action) *vigil.Action {
	c := *a
	return &c
}

func (s *fakeStore) CreateAction(ctx context.Context, a *vigil.Action, newConfig *vigil.ActionConfig) (*vigil.Action, bool, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.actions {
		if b.TenantID == tid && b.IdempotencyKey == a.IdempotencyKey {
			if string(b.RequestHash) != string(a.RequestHash) {
				return nil, false, vigil.Errorf(vigil.EUNPROCESSABLE, "The idempotency key was used with another request.")
			}
			return cloneAction(b), false, nil
		}
	}
	if _, ok := s.configs[tid+"/"+a.Code]; !ok && newConfig != nil {
		c := *newConfig
		c.TenantID, c.CreatedAt, c.UpdatedAt = tid, s.now(), s.now()
		s.configs[tid+"/"+a.Code] = &c
	}
	if c, ok := s.configs[tid+"/"+a.Code]; ok {
		c.LastActionCreatedAt = s.now()
	}
	if _, ok := s.users[tid+"/"+a.UserID]; !ok {
		s.upsertUserLocked(tid, a.UserID, vigil.UserUpdate{})
	}
	a.TenantID, a.ID = tid, s.nextID("action")
	a.CreatedAt, a.UpdatedAt, a.StateUpdatedAt = s.now(), s.now(), s.now()
	s.actions = append(s.actions, cloneAction(a))
	return cloneAction(a), true, nil
}

func (s *fakeStore) findActionLocked(tid, userID, code, key string) *vigil.Action {
	for _, a := range s.actions {
		if a.TenantID == tid && a.UserID == userID && a.Code == code && a.IdempotencyKey == key {
			return a
		}
	}
	return nil
}

func (s *fakeStore) FindAction(ctx context.Context, userID, code, key string) (*vigil.Action, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.findActionLocked(tid, userID, code, key); a != nil {
		return cloneAction(a), nil
	}
	return nil, vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
}

func (s *fakeStore) FindActionByKey(ctx context.Context, key string) (*vigil.Action, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.actions {
		if a.TenantID == tid && a.IdempotencyKey == key {
			return cloneAction(a), nil
		}
	}
	return nil, vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
}

func (s *fakeStore) FindActions(ctx context.Context, f vigil.ActionFilter) ([]*vigil.Action, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastFil[tid] = f
	var out []*vigil.Action
	for i := len(s.actions) - 1; i >= 0; i-- {
		a := s.actions[i]
		if a.TenantID != tid || a.UserID != f.UserID ||
			(len(f.Codes) > 0 && !slices.Contains(f.Codes, a.Code)) ||
			(f.State != "" && a.State != f.State) ||
			(!f.FromDate.IsZero() && a.CreatedAt.Before(f.FromDate)) {
			continue
		}
		out = append(out, cloneAction(a))
	}
	return out, nil
}

func (s *fakeStore) UpdateActionState(ctx context.Context, userID, code, key string, state vigil.ActionState) (*vigil.Action, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.findActionLocked(tid, userID, code, key)
	if a == nil {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
	}
	a.State, a.StateUpdatedAt, a.UpdatedAt = state, s.now(), s.now()
	return cloneAction(a), nil
}

func (s *fakeStore) ConsumeValidation(ctx context.Context, userID, code, key string) (*vigil.Action, bool, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.findActionLocked(tid, userID, code, key)
	if a == nil {
		return nil, false, vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
	}
	if a.State != vigil.StateChallengeSucceeded || !a.ValidatedAt.IsZero() {
		return cloneAction(a), false, nil
	}
	a.ValidatedAt = s.now()
	return cloneAction(a), true, nil
}

func (s *fakeStore) FindActionConfig(ctx context.Context, code string) (*vigil.ActionConfig, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.configs[tid+"/"+code]
	if !ok {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "Action configuration not found.")
	}
	cc := *c
	return &cc, nil
}

func (s *fakeStore) FindActionConfigs(ctx context.Context) ([]*vigil.ActionConfig, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*vigil.ActionConfig
	for _, c := range s.configs {
		if c.TenantID == tid {
			cc := *c
			out = append(out, &cc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ActionCode < out[j].ActionCode })
	return out, nil
}

func (s *fakeStore) CreateActionConfig(ctx context.Context, c *vigil.ActionConfig) error {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.configs[tid+"/"+c.ActionCode]; ok {
		return vigil.Errorf(vigil.ECONFLICT, "Action configuration exists.")
	}
	cc := *c
	cc.TenantID, cc.CreatedAt, cc.UpdatedAt = tid, s.now(), s.now()
	s.configs[tid+"/"+c.ActionCode] = &cc
	return nil
}

func (s *fakeStore) UpsertActionConfig(ctx context.Context, c *vigil.ActionConfig) (bool, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := *c
	cc.TenantID = tid
	if old, ok := s.configs[tid+"/"+c.ActionCode]; ok {
		cc.CreatedAt, cc.LastActionCreatedAt = old.CreatedAt, old.LastActionCreatedAt
	} else {
		cc.CreatedAt = s.now()
	}
	cc.UpdatedAt = s.now()
	s.configs[tid+"/"+c.ActionCode] = &cc
	return true, nil
}

// UpdateActionConfig is a minimal read-modify-write under the lock.
func (s *fakeStore) UpdateActionConfig(ctx context.Context, code string, fn func(*vigil.ActionConfig) error) (*vigil.ActionConfig, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.configs[tid+"/"+code]
	if !ok {
		return nil, vigil.Errorf(vigil.ENOTFOUND, "Action configuration not found.")
	}
	cc := *old
	if err := fn(&cc); err != nil {
		return nil, err
	}
	cc.UpdatedAt = s.now()
	s.configs[tid+"/"+code] = &cc
	out := cc
	return &out, nil
}

func (s *fakeStore) DeleteActionConfig(ctx context.Context, code string) error {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.configs[tid+"/"+code]; !ok {
		return vigil.Errorf(vigil.ENOTFOUND, "Action configuration not found.")
	}
	delete(s.configs, tid+"/"+code)
	return nil
}

// fakeTracker decides actions from their configuration's default outcome
// (creating an ALLOW configuration for unknown codes) and issues opaque
// tokens "tok.<tenant>.<key>" that it remembers. A user ID of "panic"
// makes Track panic, to exercise the recovery path.
type fakeTracker struct {
	store *fakeStore

	mu     sync.Mutex
	tokens map[string][3]string // token -> tenant, user, action key
}

func newFakeTracker(store *fakeStore) *fakeTracker {
	return &fakeTracker{store: store, tokens: map[string][3]string{}}
}

func (t *fakeTracker) Track(ctx context.Context, in *vigil.TrackInput) (*vigil.TrackResult, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if in.UserID == "panic" {
		panic("tracker exploded with secret-ish detail")
	}
	outcome := vigil.OutcomeAllow
	if c, err := t.store.FindActionConfig(ctx, in.ActionCode); err == nil {
		outcome = c.DefaultOutcome
	}
	auths, err := t.store.FindAuthenticators(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	key := in.IdempotencyKey
	if key == "" {
		t.store.mu.Lock()
		key = t.store.nextID("idem")
		t.store.mu.Unlock()
	}
	hash, _ := json.Marshal(in.Context)
	a := &vigil.Action{
		UserID: in.UserID, Code: in.ActionCode, IdempotencyKey: key,
		State:           outcome.State(),
		Decision:        vigil.Decision{Outcome: outcome, Output: json.RawMessage(`{"seen":true}`)},
		IsEnrolled:      len(auths) > 0,
		EnrolledMethods: enrolledMethods(auths),
		Context:         in.Context,
		RequestHash:     hash,
	}
	if len(auths) > 0 {
		a.AllowedMethods = a.EnrolledMethods
		a.DefaultMethod = a.EnrolledMethods[0]
	}
	stored, created, err := t.store.CreateAction(ctx, a, &vigil.ActionConfig{ActionCode: in.ActionCode, DefaultOutcome: vigil.OutcomeAllow})
	if err != nil {
		return nil, err
	}
	token := "tok." + tid + "." + key
	t.mu.Lock()
	t.tokens[token] = [3]string{tid, stored.UserID, stored.Code + "/" + key}
	t.mu.Unlock()
	return &vigil.TrackResult{
		Action:   stored,
		Token:    token,
		URL:      "/challenge?token=" + token,
		Replayed: !created,
	}, nil
}

func (t *fakeTracker) Validate(ctx context.Context, in *vigil.ValidateInput) (*vigil.ValidateResult, error) {
	tid, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	ref, ok := t.tokens[in.Token]
	t.mu.Unlock()
	if !ok || ref[0] != tid {
		return &vigil.ValidateResult{}, nil
	}
	code, key, _ := strings.Cut(ref[2], "/")
	if (in.UserID != "" && in.UserID != ref[1]) || (in.ActionCode != "" && in.ActionCode != code) {
		return &vigil.ValidateResult{}, nil
	}
	a, consumed, err := t.store.ConsumeValidation(ctx, ref[1], code, key)
	if err != nil {
		return nil, err
	}
	return &vigil.ValidateResult{IsValid: consumed, Action: a}, nil
}
