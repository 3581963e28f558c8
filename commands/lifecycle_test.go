package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/handlers/problem"
	"github.com/tenantstream/tenantstream/projections"
)

var alice = commands.Meta{Principal: ident.Principal{UserID: "operator:alice", Roles: []string{ident.RolePlatformAdmin}}}

// problemType is the RFC 9457 type the HTTP layer would answer err with.
func problemType(err error) string {
	var pt problem.Typed
	if errors.As(err, &pt) {
		uri, _ := pt.ProblemType()
		return uri
	}
	return ""
}

// writes are one call of every command that changes a tenant, as its admin.
func writes(f *fixture, tid string, m commands.Meta) map[string]func() error {
	meters := commands.Catalog{Catalog: f.cat}
	return map[string]func() error{
		"put item": func() error {
			_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "x", Data: json.RawMessage(`{"a":1}`)})
			return err
		},
		"delete item": func() error { return f.svc.DeleteItem(f.ctx, m, tid, "doc", commands.Precondition{}) },
		"record usage": func() error {
			_, err := f.svc.RecordUsage(f.ctx, m, tid, meters, []commands.UsageRecord{{ID: "u-late", Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()}})
			return err
		},
		"add user": func() error {
			_, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "new@x.test", Password: "Sup3r-secret!"}, nil)
			return err
		},
		"invite": func() error {
			_, err := f.svc.CreateInvitation(f.ctx, m, commands.CreateInvitation{Tenant: tid, Email: "inv@x.test"})
			return err
		},
		"create api key": func() error {
			_, err := f.svc.CreateAPIKey(f.ctx, m, commands.CreateAPIKey{Tenant: tid, Name: "k", Scopes: []string{"data:read"}})
			return err
		},
		"change plan": func() error {
			_, err := f.svc.ChangePlan(f.ctx, m, tid, "pro")
			return err
		},
	}
}

func TestSuspendedTenantRefusesWritesInTheCommandLayer(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	_, err := f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "doc", Data: json.RawMessage(`{"v":1}`)})
	require.NoError(t, err)
	_, err = f.svc.CreateAPIKey(f.ctx, m, commands.CreateAPIKey{Tenant: tid, Name: "leaky", Scopes: []string{"data:read"}})
	require.NoError(t, err)

	// Warm the state cache, so the suspension must be seen through it.
	_, err = f.svc.PutItem(f.ctx, m, commands.PutItem{Tenant: tid, ItemID: "warm", Data: json.RawMessage(`{}`)})
	require.NoError(t, err)
	susp, err := f.svc.SuspendTenant(f.ctx, alice, tid, "invoice 7 unpaid")
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusSuspended, susp.Status)
	assert.Equal(t, "invoice 7 unpaid", susp.StatusReason)

	for name, w := range writes(f, tid, m) {
		t.Run(name, func(t *testing.T) {
			err := w()
			require.Error(t, err)
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "%v", err)
			assert.Equal(t, commands.ProblemTenantSuspended, problemType(err))
			assert.Contains(t, err.Error(), "invoice 7 unpaid", "the refusal says why")
		})
	}
	// Reads work.
	_, err = f.svc.GetItem(f.ctx, m, tid, "doc")
	assert.NoError(t, err)
	_, _, err = f.svc.ListItems(f.ctx, m, tid, "", 10)
	assert.NoError(t, err)
	_, err = f.bill.Summary(f.ctx, m, tid)
	assert.NoError(t, err)
	got, err := f.svc.GetTenant(f.ctx, m, tid)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusSuspended, got.Status)
	// What only takes access away still works: a leaked key can be revoked.
	k, err := f.svc.ListAPIKeys(f.ctx, m, tid)
	require.NoError(t, err)
	require.NotEmpty(t, k.Keys)
	assert.NoError(t, f.svc.RevokeAPIKey(f.ctx, m, tid, k.Keys[0].KeyID), "revoking a key while suspended")
	// The operator may still change a suspended tenant's plan.
	_, err = f.svc.OperatorPlan(f.ctx, alice, tid, "pro", 0)
	assert.NoError(t, err)

	_, err = f.svc.ReactivateTenant(f.ctx, alice, tid, "paid")
	require.NoError(t, err)
	for name, w := range writes(f, tid, m) {
		if name == "change plan" {
			continue // already on pro: a no-op
		}
		assert.NoError(t, w(), "%s after reactivation", name)
	}
}

func TestOffboardingTenantIsReadOnlyForEveryone(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	_, err := f.svc.OffboardTenant(f.ctx, alice, tid, "contract ended", false)
	require.NoError(t, err)
	for name, w := range writes(f, tid, m) {
		err := w()
		assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "%s: %v", name, err)
		assert.Equal(t, commands.ProblemTenantOffboarding, problemType(err), name)
	}
	_, err = f.svc.OperatorPlan(f.ctx, alice, tid, "pro", 0)
	assert.Equal(t, commands.ProblemTenantOffboarding, problemType(err), "nobody changes an offboarding tenant's plan")
	_, err = f.svc.GetTenant(f.ctx, m, tid)
	assert.NoError(t, err, "reads (and the export) stay available")
}

func TestLifecycleTransitions(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // suspend, reactivate, offboard, erase
		code  domain.Code
		final string
	}{
		{"suspend", []string{"suspend"}, "", tenant.StatusSuspended},
		{"suspend twice", []string{"suspend", "suspend"}, domain.CodeConflict, tenant.StatusSuspended},
		{"reactivate an active tenant", []string{"reactivate"}, domain.CodeConflict, tenant.StatusActive},
		{"suspend and reactivate", []string{"suspend", "reactivate"}, "", tenant.StatusActive},
		{"offboard an active tenant", []string{"offboard"}, "", tenant.StatusOffboarding},
		{"offboard a suspended tenant", []string{"suspend", "offboard"}, "", tenant.StatusOffboarding},
		{"reactivate an offboarding tenant", []string{"offboard", "reactivate"}, domain.CodeConflict, tenant.StatusOffboarding},
		{"suspend an offboarding tenant", []string{"offboard", "suspend"}, domain.CodeConflict, tenant.StatusOffboarding},
		{"erase an active tenant", []string{"erase"}, domain.CodeConflict, tenant.StatusActive},
		{"erase after offboarding", []string{"offboard", "erase"}, "", tenant.StatusErased},
		{"erased is final", []string{"offboard", "erase", "reactivate"}, domain.CodeConflict, tenant.StatusErased},
		{"erased cannot be offboarded again", []string{"offboard", "erase", "offboard"}, domain.CodeConflict, tenant.StatusErased},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
			tid, _ := f.onboard(t, "acme")
			var err error
			for _, step := range tc.steps {
				switch step {
				case "suspend":
					_, err = f.svc.SuspendTenant(f.ctx, alice, tid, "why")
				case "reactivate":
					_, err = f.svc.ReactivateTenant(f.ctx, alice, tid, "why")
				case "offboard":
					_, err = f.svc.OffboardTenant(f.ctx, alice, tid, "why", false)
				case "erase":
					_, err = f.svc.MarkErased(f.ctx, alice, tid, "why")
				}
			}
			if tc.code == "" {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, tc.code, domain.ErrorCode(err), "%v", err)
			}
			got, err := f.svc.GetTenant(f.ctx, alice, tid)
			require.NoError(t, err)
			assert.Equal(t, tc.final, got.Status)
		})
	}
}

func TestLifecycleCommandsAreForOperatorsOnly(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, admin := f.onboard(t, "acme")
	callers := map[string]commands.Meta{
		"the tenant's admin":             admin,
		"an API key":                     {Principal: ident.Principal{TenantID: tid, UserID: "key:abc", KeyID: "abc", Scopes: []string{"data:write"}}},
		"a platform_admin with a tenant": {Principal: ident.Principal{TenantID: tid, UserID: "u", Roles: []string{ident.RolePlatformAdmin}}},
		"nobody":                         {},
	}
	for name, m := range callers {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.SuspendTenant(f.ctx, m, tid, "why")
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
			_, err = f.svc.OffboardTenant(f.ctx, m, tid, "why", true)
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
			_, err = f.svc.SearchTenants(f.ctx, m, commands.TenantFilter{})
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
			_, err = f.svc.TenantProfile(f.ctx, m, tid)
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
			_, err = f.svc.OperatorPlan(f.ctx, m, tid, "pro", 0)
			assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err))
		})
	}
	got, err := f.svc.GetTenant(f.ctx, admin, tid)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusActive, got.Status)
}

func TestLifecycleReasonsAndIdempotency(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	for name, reason := range map[string]string{"empty": "", "blank": "  \n", "too long": strings.Repeat("x", 501), "control": "a\x00b", "bad utf-8": "\xff"} {
		_, err := f.svc.SuspendTenant(f.ctx, alice, tid, reason)
		assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), name)
	}
	keyed := alice
	keyed.IdempotencyKey, keyed.Fingerprint = "k1", "fp-suspend-why"
	first, err := f.svc.SuspendTenant(f.ctx, keyed, tid, "why")
	require.NoError(t, err)
	again, err := f.svc.SuspendTenant(f.ctx, keyed, tid, "why")
	require.NoError(t, err, "a retry answers what the first attempt answered")
	assert.Equal(t, first.Version, again.Version)
	other := keyed
	other.Fingerprint = "fp-suspend-other"
	_, err = f.svc.SuspendTenant(f.ctx, other, tid, "other")
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "the key with another request is a 422")
	_, err = f.svc.ReactivateTenant(f.ctx, keyed, tid, "why")
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err), "the key of a suspension cannot reactivate")
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), tenant.StreamID, 1)
	require.NoError(t, err)
	var n int
	for _, e := range evs {
		if e.Type == tenant.TypeSuspended {
			n++
			assert.Equal(t, "operator:alice", e.Actor, "the operator is the actor")
		}
	}
	assert.Equal(t, 1, n)
}

func TestEraseIsAHookUntilAnEraserIsWired(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	_, err := f.svc.OffboardTenant(f.ctx, alice, tid, "contract ended", true)
	assert.Equal(t, domain.CodeNotImplemented, domain.ErrorCode(err))
	got, err := f.svc.GetTenant(f.ctx, alice, tid)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusActive, got.Status, "a refused erase changes nothing")

	er := &fakeEraser{}
	f.svc.Eraser = er
	out, err := f.svc.OffboardTenant(f.ctx, alice, tid, "contract ended", true)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusErased, out.Status)
	assert.Equal(t, []events.TenantID{events.TenantID(tid)}, er.erased)

	// An eraser that fails leaves the tenant offboarding; a retry resumes.
	tid2, _ := f.onboard(t, "globex")
	er.fail = true
	_, err = f.svc.OffboardTenant(f.ctx, alice, tid2, "gone", true)
	require.Error(t, err)
	got, err = f.svc.GetTenant(f.ctx, alice, tid2)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusOffboarding, got.Status)
	er.fail = false
	out, err = f.svc.OffboardTenant(f.ctx, alice, tid2, "gone", true)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusErased, out.Status)
}

type fakeEraser struct {
	mu     sync.Mutex
	fail   bool
	erased []events.TenantID
}

func (e *fakeEraser) EraseTenant(_ context.Context, tid events.TenantID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errors.New("shredder jammed")
	}
	e.erased = append(e.erased, tid)
	return nil
}

// Forty operators suspending and reactivating one tenant at once end in a
// state the history explains: every change valid from the one before it.
func TestConcurrentSuspendAndReactivateStayConsistent(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	var wg sync.WaitGroup
	codes := make([]domain.Code, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = f.svc.SuspendTenant(f.ctx, alice, tid, fmt.Sprint("s", i))
			} else {
				_, err = f.svc.ReactivateTenant(f.ctx, alice, tid, fmt.Sprint("r", i))
			}
			if err != nil {
				codes[i] = domain.ErrorCode(err)
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		assert.Contains(t, []domain.Code{"", domain.CodeConflict}, c, "request %d", i)
	}
	evs, err := f.store.Load(f.ctx, events.TenantID(tid), tenant.StreamID, 1)
	require.NoError(t, err)
	state, changes := tenant.StatusActive, 0
	for _, e := range evs {
		p, err := schema.Registry.Decode(e)
		require.NoError(t, err)
		switch p.(type) {
		case *tenant.Suspended:
			require.Equal(t, tenant.StatusActive, state, "a suspension of a suspended tenant at v%d", e.Version)
			state = tenant.StatusSuspended
			changes++
		case *tenant.Reactivated:
			require.Equal(t, tenant.StatusSuspended, state, "a reactivation of an active tenant at v%d", e.Version)
			state = tenant.StatusActive
			changes++
		}
	}
	assert.Positive(t, changes)
	var ok int
	for _, c := range codes {
		if c == "" {
			ok++
		}
	}
	assert.Equal(t, changes, ok, "every success appended exactly one change")
	got, err := f.svc.GetTenant(f.ctx, alice, tid)
	require.NoError(t, err)
	assert.Equal(t, state, got.Status)
}

func TestSuspensionNotifiesTheAdmins(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "acme")
	_, err := f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "second@acme.test", Password: "Sup3r-secret!", Role: ident.RoleTenantAdmin}, nil)
	require.NoError(t, err)
	_, err = f.svc.AddUser(f.ctx, m, commands.AddUser{Tenant: tid, Email: "member@acme.test", Password: "Sup3r-secret!"}, nil)
	require.NoError(t, err)
	_, err = f.svc.SuspendTenant(f.ctx, alice, tid, "invoice 7 unpaid")
	require.NoError(t, err)
	_, err = f.svc.ReactivateTenant(f.ctx, alice, tid, "paid")
	require.NoError(t, err)
	f.project(t)
	entries, err := f.engine.Reader().List(f.ctx, projections.OutboxProjection, projections.PlatformTenant, projections.OutboxCollection, "", 100)
	require.NoError(t, err)
	got := map[string]map[string]any{}
	for _, e := range entries {
		var n projections.Notification
		require.NoError(t, json.Unmarshal(e.Value, &n))
		var data map[string]any
		require.NoError(t, json.Unmarshal(n.Data, &data))
		if n.TenantID == tid {
			got[n.Type] = data
		}
	}
	require.Contains(t, got, tenant.TypeSuspended)
	require.Contains(t, got, tenant.TypeReactivated)
	assert.Equal(t, "invoice 7 unpaid", got[tenant.TypeSuspended]["reason"])
	assert.ElementsMatch(t, []any{"admin@acme.test", "second@acme.test"}, got[tenant.TypeSuspended]["to"], "the admins, not the member")
	assert.Equal(t, "paid", got[tenant.TypeReactivated]["reason"])

	dir, err := f.engine.Reader().Get(f.ctx, projections.TenantsProjection, projections.PlatformTenant, projections.TenantsCollection, tid)
	require.NoError(t, err)
	assert.Contains(t, string(dir), `"status":"active"`)
}

func TestBillingGoesOnWhenSuspendedAndEndsAfterOffboarding(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	tid, _ := f.onboard(t, "acme")
	_, err := f.svc.SuspendTenant(f.ctx, alice, tid, "unpaid")
	require.NoError(t, err)
	oct, _ := billing.ParsePeriod("2026-10")
	nov, dec, jan := oct.Next(), oct.Next().Next(), oct.Next().Next().Next()

	// Suspended all October: still invoiced in full.
	require.NoError(t, f.clk.Set(time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)))
	res, err := f.bill.CloseThrough(f.ctx, events.TenantID(tid), oct)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.True(t, res[0].Issued, "a suspended tenant is billed")
	full := res[0].Invoice.Subtotal

	// Offboarded half-way through November: one final invoice for the
	// half month, then nothing.
	_, err = f.svc.OffboardTenant(f.ctx, alice, tid, "contract ended", false)
	require.NoError(t, err)
	require.NoError(t, f.clk.Set(time.Date(2027, 1, 1, 2, 0, 0, 0, time.UTC)))
	res, err = f.bill.CloseThrough(f.ctx, events.TenantID(tid), dec)
	require.NoError(t, err)
	require.Len(t, res, 1, "only November is closed: %+v", res)
	assert.Equal(t, nov.String(), res[0].Period)
	require.True(t, res[0].Issued)
	final := res[0].Invoice
	require.Len(t, final.Segments, 1)
	assert.WithinDuration(t, time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC), final.Segments[0].To, time.Minute, "billed up to the offboarding")
	assert.True(t, final.Subtotal.LessThan(full), "a partial period: %s < %s", final.Subtotal, full)
	assert.Equal(t, int64(2), final.Number)

	res, err = f.bill.CloseThrough(f.ctx, events.TenantID(tid), jan)
	require.NoError(t, err)
	assert.Empty(t, res, "the tenant is skipped after its final invoice")
	for _, p := range []billing.Period{dec, jan} {
		_, err := f.store.Load(f.ctx, events.TenantID(tid), events.StreamID(commands.InvoiceStreamID(p)), 1)
		assert.ErrorIs(t, err, events.ErrNotFound, "no invoice for %s", p)
	}
	rep, err := f.bill.Audit(f.ctx, events.TenantID(tid), nov)
	require.NoError(t, err)
	assert.True(t, rep.Match, "the final invoice audits: %+v", rep)
}

func TestSearchTenants(t *testing.T) {
	f := newFixture(t, time.Date(2026, 10, 10, 8, 0, 0, 0, time.UTC))
	ids := map[string]string{}
	for _, n := range []string{"acme", "acme-eu", "globex", "initech"} {
		ids[n], _ = f.onboard(t, n)
		require.NoError(t, f.clk.Set(f.clk.Now().Add(time.Hour)))
	}
	_, err := f.svc.SuspendTenant(f.ctx, alice, ids["globex"], "unpaid")
	require.NoError(t, err)
	_, err = f.svc.OperatorPlan(f.ctx, alice, ids["initech"], "pro", 0)
	require.NoError(t, err)
	f.project(t)
	names := func(p commands.TenantPage) []string {
		var out []string
		for _, t := range p.Tenants {
			out = append(out, t.Name)
		}
		return out
	}
	tests := []struct {
		name string
		f    commands.TenantFilter
		want []string
		code domain.Code
	}{
		{"all", commands.TenantFilter{}, []string{"acme", "acme-eu", "globex", "initech"}, ""},
		{"prefix any case", commands.TenantFilter{NamePrefix: "ACME"}, []string{"acme", "acme-eu"}, ""},
		{"status", commands.TenantFilter{Status: tenant.StatusSuspended}, []string{"globex"}, ""},
		{"plan", commands.TenantFilter{Plan: "pro"}, []string{"initech"}, ""},
		{"created range", commands.TenantFilter{CreatedFrom: time.Date(2026, 10, 10, 9, 0, 0, 0, time.UTC), CreatedTo: time.Date(2026, 10, 10, 11, 0, 0, 0, time.UTC)}, []string{"acme-eu", "globex"}, ""},
		{"bad status", commands.TenantFilter{Status: "deleted"}, nil, domain.CodeInvalid},
		{"bad cursor", commands.TenantFilter{After: "../x"}, nil, domain.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.svc.SearchTenants(f.ctx, alice, tc.f)
			if tc.code != "" {
				assert.Equal(t, tc.code, domain.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			assert.ElementsMatch(t, tc.want, names(p))
		})
	}
	// Paging: one at a time visits every tenant once.
	var seen []string
	f2 := commands.TenantFilter{Limit: 1}
	for range 10 {
		p, err := f.svc.SearchTenants(f.ctx, alice, f2)
		require.NoError(t, err)
		seen = append(seen, names(p)...)
		if p.NextCursor == "" {
			break
		}
		f2.After = p.NextCursor
	}
	assert.ElementsMatch(t, []string{"acme", "acme-eu", "globex", "initech"}, seen)

	prof, err := f.svc.TenantProfile(f.ctx, alice, ids["globex"])
	require.NoError(t, err)
	assert.Equal(t, 1, prof.MemberCount)
	assert.Equal(t, tenant.StatusSuspended, prof.Status)
}
