package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/events/shred"
)

// sealedFixture is a fixture whose Service writes through the sealing layer.
func sealedFixture(t *testing.T) (*fixture, *shred.Store) {
	t.Helper()
	f := newFixture(t, time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	sealed, err := shred.New(f.store, shred.NewMemoryKeyring(), schema.Sensitive)
	require.NoError(t, err)
	f.svc.Store = sealed
	return f, sealed
}

var platformAdmin = commands.Meta{Principal: ident.Principal{UserID: "ops", Roles: []string{ident.RolePlatformAdmin}}}

func codeOf(err error) domain.Code {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// Only a platform admin erases, only a tenant that exists, and the request
// changes nothing when refused.
func TestEraseTenantRefusals(t *testing.T) {
	t.Parallel()
	f, sealed := sealedFixture(t)
	victim, victimAdmin := f.onboard(t, "victim")
	_, otherAdmin := f.onboard(t, "other")
	tests := []struct {
		name   string
		m      commands.Meta
		tenant string
		keys   commands.KeyShredder
		code   domain.Code
	}{
		{"the tenant's own admin", victimAdmin, victim, sealed, domain.CodeForbidden},
		{"another tenant's admin", otherAdmin, victim, sealed, domain.CodeForbidden},
		{"nobody", commands.Meta{}, victim, sealed, domain.CodeForbidden},
		{"an unknown tenant", platformAdmin, "01a2-no-such-tenant", sealed, domain.CodeNotFound},
		{"a malformed tenant id", platformAdmin, "../" + strings.Repeat("x", 300), sealed, domain.CodeNotFound},
		{"the platform's own data", platformAdmin, "_platform", sealed, domain.CodeNotFound},
		{"a platform without keys", platformAdmin, victim, nil, domain.CodeInvalid},
	}
	for _, tt := range tests {
		_, err := f.svc.EraseTenant(f.ctx, tt.m, tt.tenant, tt.keys)
		require.Error(t, err, tt.name)
		assert.Equal(t, tt.code, codeOf(err), "%s: %v", tt.name, err)
	}
	evs, err := sealed.Load(f.ctx, events.TenantID(victim), tenant.StreamID, 1)
	require.NoError(t, err)
	for _, ev := range evs {
		assert.NotEqual(t, tenant.TypeDataErased, ev.Type, "a refused erasure records nothing")
		assert.False(t, ev.Erased)
	}
}

// 40 concurrent erasures record one erasure, and every one of them answers
// with it; afterwards the tenant's sealed fields read as null, its writes are
// refused as erased, and the other tenant is untouched.
func TestEraseTenantConcurrentlyOnce(t *testing.T) {
	t.Parallel()
	f, sealed := sealedFixture(t)
	victim, victimAdmin := f.onboard(t, "victim")
	other, otherAdmin := f.onboard(t, "other")
	_, err := f.svc.PutItem(f.ctx, victimAdmin, commands.PutItem{Tenant: victim, ItemID: "doc", Data: json.RawMessage(`{"secret":"victim"}`)})
	require.NoError(t, err)
	_, err = f.svc.PutItem(f.ctx, otherAdmin, commands.PutItem{Tenant: other, ItemID: "doc", Data: json.RawMessage(`{"secret":"other"}`)})
	require.NoError(t, err)

	var wg sync.WaitGroup
	results := make(chan commands.EraseResult, 40)
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			res, err := f.svc.EraseTenant(context.Background(), platformAdmin, victim, sealed)
			if err != nil {
				errs <- err
				return
			}
			results <- res
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("concurrent erase: %v", err)
	}
	first := 0
	var at time.Time
	for r := range results {
		if !r.Already {
			first++
			at = r.ErasedAt
		}
	}
	assert.Equal(t, 1, first, "one erasure is recorded")
	evs, err := sealed.Load(f.ctx, events.TenantID(victim), tenant.StreamID, 1)
	require.NoError(t, err)
	n := 0
	for _, ev := range evs {
		if ev.Type == tenant.TypeDataErased {
			n++
		}
	}
	assert.Equal(t, 1, n)
	assert.False(t, at.IsZero())

	items, err := sealed.Load(f.ctx, events.TenantID(victim), "item-doc", 1)
	require.NoError(t, err)
	assert.True(t, items[0].Erased)
	assert.NotContains(t, string(items[0].Data), "victim")
	_, err = f.svc.PutItem(f.ctx, victimAdmin, commands.PutItem{Tenant: victim, ItemID: "doc2", Data: json.RawMessage(`{"a":1}`)})
	assert.Equal(t, domain.CodeForbidden, codeOf(err), "writes of an erased tenant: %v", err)
	got, err := f.svc.GetItem(f.ctx, otherAdmin, other, "doc")
	require.NoError(t, err)
	assert.JSONEq(t, `{"secret":"other"}`, string(got.Data))
}
