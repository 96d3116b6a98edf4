package risk_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-auth/vigil"
)

// memDB is an in-memory stand-in for the store: every method is scoped by
// the tenant in the context and atomic under one mutex, like a store method
// is one transaction. It implements the vigil services risk uses.
type memDB struct {
	now func() time.Time

	mu      sync.Mutex
	nextID  int
	actions map[string][]*vigil.Action                   // by tenant
	byKey   map[string]map[string]*vigil.Action          // by tenant, idempotency key
	configs map[string]map[string]*vigil.ActionConfig    // by tenant, code
	auths   map[string]map[string][]*vigil.Authenticator // by tenant, user
	keys    map[string][]*vigil.SigningKey               // by tenant, newest first
	tenants map[string]*vigil.Tenant

	tenantLookups atomic.Int32
	configLookups atomic.Int32
	keyLookups    atomic.Int32
	consumeCalls  atomic.Int32
}

var (
	_ vigil.ActionService        = (*memDB)(nil)
	_ vigil.ActionConfigService  = (*memDB)(nil)
	_ vigil.AuthenticatorService = (*memDB)(nil)
	_ vigil.SigningKeyService    = (*memDB)(nil)
	_ vigil.TenantService        = memTenants{}
)

func newMemDB(now func() time.Time) *memDB {
	return &memDB{
		now:     now,
		actions: make(map[string][]*vigil.Action),
		byKey:   make(map[string]map[string]*vigil.Action),
		configs: make(map[string]map[string]*vigil.ActionConfig),
		auths:   make(map[string]map[string][]*vigil.Authenticator),
		keys:    make(map[string][]*vigil.SigningKey),
		tenants: make(map[string]*vigil.Tenant),
	}
}

func notFound() error { return vigil.Errorf(vigil.ENOTFOUND, "Not found.") }

func cloneAction(a *vigil.Action) *vigil.Action {
	c := *a
	c.AllowedMethods = slices.Clone(a.AllowedMethods)
	c.EnrolledMethods = slices.Clone(a.EnrolledMethods)
	c.RequestHash = slices.Clone(a.RequestHash)
	return &c
}

// --- ActionService

func (m *memDB) CreateAction(ctx context.Context, a *vigil.Action, newConfig *vigil.ActionConfig) (*vigil.Action, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byKey[tenantID][a.IdempotencyKey]; e != nil {
		if string(e.RequestHash) != string(a.RequestHash) {
			return nil, false, vigil.Errorf(vigil.EUNPROCESSABLE, "Idempotency key reused.")
		}
		return cloneAction(e), false, nil
	}
	now := m.now()
	m.nextID++
	a.ID = "act_" + strconv.Itoa(m.nextID)
	a.TenantID = tenantID
	a.CreatedAt, a.UpdatedAt, a.StateUpdatedAt = now, now, now
	if m.configs[tenantID] == nil {
		m.configs[tenantID] = make(map[string]*vigil.ActionConfig)
	}
	cfg := m.configs[tenantID][a.Code]
	if cfg == nil && newConfig != nil {
		c := *newConfig
		c.TenantID, c.CreatedAt, c.UpdatedAt = tenantID, now, now
		cfg = &c
		m.configs[tenantID][a.Code] = cfg
	}
	if cfg != nil {
		cfg.LastActionCreatedAt = now
	}
	stored := cloneAction(a)
	m.actions[tenantID] = append(m.actions[tenantID], stored)
	if m.byKey[tenantID] == nil {
		m.byKey[tenantID] = make(map[string]*vigil.Action)
	}
	m.byKey[tenantID][a.IdempotencyKey] = stored
	return nil, true, nil
}

// stored returns the action stored under key as CreateAction was given it,
// nil if none.
func (m *memDB) stored(tenantID, key string) *vigil.Action {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byKey[tenantID][key]
}

// find returns the stored action with key, if it has the user and code.
func (m *memDB) find(tenantID, userID, code, key string) *vigil.Action {
	if a := m.byKey[tenantID][key]; a != nil && a.UserID == userID && a.Code == code {
		return a
	}
	return nil
}

func (m *memDB) FindAction(ctx context.Context, userID, code, key string) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.find(tenantID, userID, code, key)
	if a == nil {
		return nil, notFound()
	}
	return cloneAction(a), nil
}

func (m *memDB) FindActionByKey(ctx context.Context, key string) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.byKey[tenantID][key]
	if a == nil {
		return nil, notFound()
	}
	return cloneAction(a), nil
}

func (m *memDB) FindActions(ctx context.Context, f vigil.ActionFilter) ([]*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*vigil.Action
	for i := len(m.actions[tenantID]) - 1; i >= 0; i-- {
		a := m.actions[tenantID][i]
		if (f.UserID == "" || a.UserID == f.UserID) && (len(f.Codes) == 0 || slices.Contains(f.Codes, a.Code)) &&
			(f.State == "" || a.State == f.State) {
			out = append(out, cloneAction(a))
		}
	}
	return out, nil
}

func (m *memDB) UpdateActionState(ctx context.Context, userID, code, key string, state vigil.ActionState) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.find(tenantID, userID, code, key)
	if a == nil {
		return nil, notFound()
	}
	a.State, a.StateUpdatedAt = state, m.now()
	return cloneAction(a), nil
}

func (m *memDB) ConsumeValidation(ctx context.Context, userID, code, key string) (*vigil.Action, bool, error) {
	m.consumeCalls.Add(1)
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.find(tenantID, userID, code, key)
	if a == nil {
		return nil, false, notFound()
	}
	if a.State != vigil.StateChallengeSucceeded || !a.ValidatedAt.IsZero() {
		return cloneAction(a), false, nil
	}
	a.ValidatedAt = m.now()
	return cloneAction(a), true, nil
}

// deleteAction removes an action, as deleting its user would.
func (m *memDB) deleteAction(tenantID, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions[tenantID] = slices.DeleteFunc(m.actions[tenantID], func(a *vigil.Action) bool { return a.ID == id })
	for k, a := range m.byKey[tenantID] {
		if a.ID == id {
			delete(m.byKey[tenantID], k)
		}
	}
}

func (m *memDB) actionCount(tenantID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.actions[tenantID])
}

// --- ActionConfigService

func (m *memDB) FindActionConfig(ctx context.Context, code string) (*vigil.ActionConfig, error) {
	m.configLookups.Add(1)
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.configs[tenantID][code]
	if c == nil {
		return nil, notFound()
	}
	cc := *c
	return &cc, nil
}

func (m *memDB) FindActionConfigs(ctx context.Context) ([]*vigil.ActionConfig, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*vigil.ActionConfig
	for _, c := range m.configs[tenantID] {
		cc := *c
		out = append(out, &cc)
	}
	slices.SortFunc(out, func(a, b *vigil.ActionConfig) int {
		if a.ActionCode < b.ActionCode {
			return -1
		}
		return 1
	})
	return out, nil
}

func (m *memDB) CreateActionConfig(ctx context.Context, c *vigil.ActionConfig) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.configs[tenantID] == nil {
		m.configs[tenantID] = make(map[string]*vigil.ActionConfig)
	}
	if m.configs[tenantID][c.ActionCode] != nil {
		return vigil.Errorf(vigil.ECONFLICT, "Exists.")
	}
	cc := *c
	cc.TenantID = tenantID
	m.configs[tenantID][c.ActionCode] = &cc
	return nil
}

func (m *memDB) UpsertActionConfig(ctx context.Context, c *vigil.ActionConfig) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.configs[tenantID] == nil {
		m.configs[tenantID] = make(map[string]*vigil.ActionConfig)
	}
	cc := *c
	cc.TenantID = tenantID
	m.configs[tenantID][c.ActionCode] = &cc
	return true, nil
}

// UpdateActionConfig is a minimal read-modify-write under the lock.
func (m *memDB) UpdateActionConfig(ctx context.Context, code string, fn func(*vigil.ActionConfig) error) (*vigil.ActionConfig, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.configs[tenantID][code]
	if old == nil {
		return nil, notFound()
	}
	cc := *old
	if err := fn(&cc); err != nil {
		return nil, err
	}
	m.configs[tenantID][code] = &cc
	out := cc
	return &out, nil
}

func (m *memDB) DeleteActionConfig(ctx context.Context, code string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.configs[tenantID][code] == nil {
		return notFound()
	}
	delete(m.configs[tenantID], code)
	return nil
}

// --- AuthenticatorService

func (m *memDB) FindAuthenticators(ctx context.Context, userID string) ([]*vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []*vigil.Authenticator{}
	for _, a := range m.auths[tenantID][userID] {
		c := *a
		out = append(out, &c)
	}
	return out, nil
}

func (m *memDB) CreateAuthenticator(ctx context.Context, a *vigil.Authenticator) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.auths[tenantID] == nil {
		m.auths[tenantID] = make(map[string][]*vigil.Authenticator)
	}
	m.nextID++
	a.ID, a.TenantID, a.CreatedAt = "aut_"+strconv.Itoa(m.nextID), tenantID, m.now()
	c := *a
	m.auths[tenantID][a.UserID] = append(m.auths[tenantID][a.UserID], &c)
	return nil
}

func (m *memDB) CreateAuthenticators(ctx context.Context, as []*vigil.Authenticator) ([]error, error) {
	errs := make([]error, len(as))
	for i, a := range as {
		errs[i] = m.CreateAuthenticator(ctx, a)
	}
	return errs, nil
}

func (m *memDB) DeleteAuthenticator(ctx context.Context, userID, id string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.auths[tenantID][userID]
	n := len(list)
	m.auths[tenantID][userID] = slices.DeleteFunc(list, func(a *vigil.Authenticator) bool { return a.ID == id })
	if len(m.auths[tenantID][userID]) == n {
		return notFound()
	}
	return nil
}

// --- SigningKeyService

func (m *memDB) FindSigningKeys(ctx context.Context) ([]*vigil.SigningKey, error) {
	m.keyLookups.Add(1)
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*vigil.SigningKey
	for _, k := range m.keys[tenantID] {
		c := *k
		out = append(out, &c)
	}
	return out, nil
}

func (m *memDB) CreateSigningKey(ctx context.Context, k *vigil.SigningKey) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys[tenantID] {
		if o.RetiredAt.IsZero() {
			o.RetiredAt = m.now()
		}
	}
	c := *k
	c.TenantID = tenantID
	m.keys[tenantID] = append([]*vigil.SigningKey{&c}, m.keys[tenantID]...)
	return nil
}

// --- TenantService

// memTenants is the tenant view of a memDB. Only FindTenantByID is used by
// the pipeline; the embedded nil interface makes any other call fail loudly.
type memTenants struct {
	vigil.TenantService
	db *memDB
}

func (t memTenants) FindTenantByID(_ context.Context, id string) (*vigil.Tenant, error) {
	t.db.tenantLookups.Add(1)
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	tn := t.db.tenants[id]
	if tn == nil {
		return nil, notFound()
	}
	c := *tn
	return &c, nil
}

func (m *memDB) addTenant(id string, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenants[id] = &vigil.Tenant{ID: id, Name: id, TokenTTL: ttl}
}
