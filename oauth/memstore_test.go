package oauth_test

import (
	"context"
	"sort"
	"sync"
	"time"

	"envoi"
	"envoi/oauth"
)

// memStore is a small in-memory oauth.Store with the store's contract
// (copies in and out, compare-and-swap on RowVersion, single-use states
// expiring by its clock). The tests that matter run on sqlstore as well.
type memStore struct {
	now func() time.Time

	mu        sync.Mutex
	flows     map[string]*envoi.AuthFlow
	operators map[string]*envoi.Operator
	tokens    map[envoi.TokenKey]*envoi.Token
	states    map[string]*envoi.OAuthState
}

var _ oauth.Store = (*memStore)(nil)

func newMemStore(now func() time.Time) *memStore {
	return &memStore{
		now:       now,
		flows:     map[string]*envoi.AuthFlow{},
		operators: map[string]*envoi.Operator{},
		tokens:    map[envoi.TokenKey]*envoi.Token{},
		states:    map[string]*envoi.OAuthState{},
	}
}

func (m *memStore) PutAuthFlow(_ context.Context, f *envoi.AuthFlow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *f
	m.flows[f.Code] = &c
	return nil
}

func (m *memStore) SetTokenAuthLearned(_ context.Context, flow, method string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flows[flow]
	if !ok {
		return envoi.Errorf(envoi.ENotFound, "flow %q", flow)
	}
	f.TokenAuthLearned = method
	return nil
}

func (m *memStore) PutOperator(_ context.Context, o *envoi.Operator) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *o
	m.operators[o.Code] = &c
	return nil
}

func (m *memStore) AuthFlow(_ context.Context, code string) (*envoi.AuthFlow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flows[code]
	if !ok {
		return nil, envoi.Errorf(envoi.ENotFound, "flow %q", code)
	}
	c := *f
	return &c, nil
}

func (m *memStore) AuthFlows(_ context.Context) ([]*envoi.AuthFlow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*envoi.AuthFlow
	for _, f := range m.flows {
		c := *f
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}

func (m *memStore) Operator(_ context.Context, code string) (*envoi.Operator, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.operators[code]
	if !ok {
		return nil, envoi.Errorf(envoi.ENotFound, "operator %q", code)
	}
	c := *o
	return &c, nil
}

func (m *memStore) Operators(_ context.Context) ([]*envoi.Operator, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*envoi.Operator
	for _, o := range m.operators {
		c := *o
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}

func (m *memStore) FlowForOperator(_ context.Context, operator string) (*envoi.AuthFlow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.operators[operator]
	for _, f := range m.flows {
		for _, code := range f.Operators {
			if code == operator {
				c := *f
				return &c, nil
			}
		}
		if o != nil && o.Group != "" {
			for _, g := range f.Groups {
				if g == o.Group {
					c := *f
					return &c, nil
				}
			}
		}
	}
	return nil, envoi.Errorf(envoi.ENoFlowForOperator, "operator %q", operator)
}

func (m *memStore) Token(_ context.Context, key envoi.TokenKey) (*envoi.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[key]
	if !ok {
		return nil, envoi.Errorf(envoi.ENotFound, "token %s/%s", key.Flow, key.Operator)
	}
	c := *t
	return &c, nil
}

func (m *memStore) Tokens(_ context.Context) ([]*envoi.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*envoi.Token
	for _, t := range m.tokens {
		c := *t
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Flow != out[j].Flow {
			return out[i].Flow < out[j].Flow
		}
		return out[i].Operator < out[j].Operator
	})
	return out, nil
}

func (m *memStore) SaveToken(_ context.Context, t *envoi.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}
	t.RowVersion = 1
	if old, ok := m.tokens[key]; ok {
		t.RowVersion = old.RowVersion + 1
	}
	t.UpdatedAt = m.now()
	c := *t
	m.tokens[key] = &c
	return nil
}

func (m *memStore) UpdateToken(_ context.Context, t *envoi.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}
	old, ok := m.tokens[key]
	if !ok {
		return envoi.Errorf(envoi.ENotFound, "token %s/%s", key.Flow, key.Operator)
	}
	if old.RowVersion != t.RowVersion {
		return envoi.Errorf(envoi.EConflict, "token %s/%s changed", key.Flow, key.Operator)
	}
	t.RowVersion++
	t.UpdatedAt = m.now()
	c := *t
	m.tokens[key] = &c
	return nil
}

func (m *memStore) PutOAuthState(_ context.Context, s *envoi.OAuthState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[s.State]; ok {
		return envoi.Errorf(envoi.EConflict, "state already pending")
	}
	c := *s
	m.states[s.State] = &c
	return nil
}

func (m *memStore) TakeOAuthState(_ context.Context, state string) (*envoi.OAuthState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[state]
	if !ok {
		return nil, envoi.Errorf(envoi.EOAuthState, "unknown or used state")
	}
	delete(m.states, state)
	if !m.now().Before(s.ExpiresAt) {
		return nil, envoi.Errorf(envoi.EOAuthState, "expired state")
	}
	c := *s
	return &c, nil
}
