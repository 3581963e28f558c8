package commands_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
)

// bookDoc is a catalogue whose plan p costs fee a month and starter s.
func bookDoc(t *testing.T, fee, s string) *billing.Catalog {
	t.Helper()
	c, err := billing.ParseCatalog(fmt.Appendf(nil, `{"currency":"USD","meters":[{"id":"calls","aggregation":"sum"}],"plans":[
	 {"id":"free","base_fee":"0"},
	 {"id":"starter","base_fee":%q},
	 {"id":"p","base_fee":%q,"prices":[{"meter":"calls","model":"per_unit","unit_price":"0.01"}]}]}`, s, fee))
	require.NoError(t, err)
	return c
}

// bookService is a Service with no configured catalogue: plans come from the
// price book in the store only.
func bookService(t *testing.T, store events.Store, clk clock.Clock) *commands.Service {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	require.NoError(t, err)
	return &commands.Service{Store: store, Clock: clk, Passwords: hasher}
}

func TestPublishCatalogVersionsChangedPlansOnly(t *testing.T) {
	clk := clock.NewTest(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	svc := bookService(t, memstore.New(memstore.WithClock(clk)), clk)
	ctx := context.Background()
	steps := []struct {
		name    string
		cat     *billing.Catalog
		want    commands.PublishResult
		wantErr domain.Code
	}{
		{"the first catalogue creates version 1 of each plan", bookDoc(t, "30.00", "10"),
			commands.PublishResult{Version: 1, Created: []billing.PlanRef{{Plan: "free", Version: 1}, {Plan: "starter", Version: 1}, {Plan: "p", Version: 1}}, Changed: true}, ""},
		{"the same catalogue again publishes nothing", bookDoc(t, "30", "10.00"),
			commands.PublishResult{Version: 1, Created: []billing.PlanRef{}, Changed: false}, ""},
		{"a new price of p versions p only", bookDoc(t, "60.00", "10"),
			commands.PublishResult{Version: 2, Created: []billing.PlanRef{{Plan: "p", Version: 2}}, Changed: true}, ""},
		{"another currency is refused", func() *billing.Catalog {
			c, err := billing.ParseCatalog([]byte(`{"currency":"EUR","meters":[{"id":"calls","aggregation":"sum"}],"plans":[{"id":"p"}]}`))
			require.NoError(t, err)
			return c
		}(), commands.PublishResult{}, domain.CodeUnprocessable},
		{"another aggregation of a meter is refused", func() *billing.Catalog {
			c, err := billing.ParseCatalog([]byte(`{"currency":"USD","meters":[{"id":"calls","aggregation":"max"}],"plans":[{"id":"p"}]}`))
			require.NoError(t, err)
			return c
		}(), commands.PublishResult{}, domain.CodeUnprocessable},
	}
	for _, st := range steps {
		got, err := svc.PublishCatalog(ctx, st.cat)
		if st.wantErr != "" {
			assert.Equal(t, st.wantErr, domain.ErrorCode(err), st.name)
			continue
		}
		require.NoError(t, err, st.name)
		assert.Equal(t, st.want, got, st.name)
	}
	hist, err := svc.CatalogHistory(ctx)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	assert.Equal(t, []billing.PlanRef{{Plan: "p", Version: 2}}, hist[1].Created)
	assert.Equal(t, "60", hist[1].Catalog.Plans[2].BaseFee.String())

	// Another instance (its own cache) sees the same book.
	other := bookService(t, svc.Store, clk)
	book, err := other.PriceBook(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, book.Version())
	v, err := book.LatestVersion("p")
	require.NoError(t, err)
	assert.Equal(t, 2, v)
}

// Two publishers (two instances, each with its own cache) race: the loser
// re-decides against the winner's catalogue, so each publication gets its own
// catalogue version, no plan version is created twice, and the same change
// published twice gets one. (Catalogues are whole documents: publishing A then
// B leaves B in force, and a plan B set back to its old price gets a version.)
func TestConcurrentPublishersCreateOneVersionPerChange(t *testing.T) {
	tests := []struct {
		name        string
		a, b        func(t *testing.T) *billing.Catalog
		wantVersion int
		wantCreated int // plan versions created by the two publications together
		wantChanged int
	}{
		{"two different changes", func(t *testing.T) *billing.Catalog { return bookDoc(t, "60.00", "10") },
			func(t *testing.T) *billing.Catalog { return bookDoc(t, "30.00", "12") },
			3, 3, 2},
		{"the same change twice", func(t *testing.T) *billing.Catalog { return bookDoc(t, "60.00", "10") },
			func(t *testing.T) *billing.Catalog { return bookDoc(t, "60.00", "10") },
			2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := 0; round < 20; round++ {
				clk := clock.NewTest(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
				store := memstore.New(memstore.WithClock(clk))
				ctx := context.Background()
				_, err := bookService(t, store, clk).PublishCatalog(ctx, bookDoc(t, "30.00", "10"))
				require.NoError(t, err)
				pubs := []*commands.Service{bookService(t, store, clk), bookService(t, store, clk)}
				for _, p := range pubs {
					_, err := p.PriceBook(ctx) // warm each cache at version 1
					require.NoError(t, err)
				}
				cats := []*billing.Catalog{tt.a(t), tt.b(t)}
				results := make([]commands.PublishResult, 2)
				errs := make([]error, 2)
				var start, done sync.WaitGroup
				start.Add(1)
				for i := range pubs {
					done.Add(1)
					go func() {
						defer done.Done()
						start.Wait()
						results[i], errs[i] = pubs[i].PublishCatalog(ctx, cats[i])
					}()
				}
				start.Done()
				done.Wait()
				changed := 0
				created := map[billing.PlanRef]bool{}
				for i := range results {
					require.NoError(t, errs[i])
					if results[i].Changed {
						changed++
					}
					for _, ref := range results[i].Created {
						assert.False(t, created[ref], "%s created twice", ref)
						created[ref] = true
					}
				}
				assert.Len(t, created, tt.wantCreated)
				assert.Equal(t, tt.wantChanged, changed)
				book, err := bookService(t, store, clk).PriceBook(ctx)
				require.NoError(t, err)
				assert.Equal(t, tt.wantVersion, book.Version())
				assert.Equal(t, 1+tt.wantCreated, book.Versions("p")+book.Versions("starter")+book.Versions("free")-2)
				assert.Equal(t, 1, book.Versions("free"), "free never changed")
			}
		})
	}
}

// End to end: invoices are rated with the plan versions in force, and audit
// from the store alone after prices change.
func TestPlanVersionsGrandfatherTenantsUntilMigrated(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewTest(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clk))
	svc := bookService(t, store, clk)
	bill := &commands.Billing{Service: svc}
	onboard := func(name string) events.TenantID {
		out, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: name, Email: "admin@" + name + ".test", Password: "Sup3r-secret!", Plan: "p"}, identity.ValidatePassword)
		require.NoError(t, err)
		return events.TenantID(out.TenantID)
	}
	// storeOnly audits with a new Service and Billing that have no catalogue at all.
	storeOnly := func(tid events.TenantID, p billing.Period) commands.AuditReport {
		rep, err := (&commands.Billing{Service: bookService(t, store, clk)}).Audit(ctx, tid, p)
		require.NoError(t, err)
		return rep
	}
	oct, _ := billing.ParsePeriod("2026-10")
	nov := oct.Next()

	_, err := svc.Onboard(ctx, commands.Meta{}, commands.Onboard{TenantName: "early", Email: "a@early.test", Password: "Sup3r-secret!", Plan: "p"}, identity.ValidatePassword)
	assert.Equal(t, domain.CodeUnavailable, domain.ErrorCode(err), "no catalogue published, none configured")

	// Catalogue A: p costs 30.00 a month.
	_, err = svc.PublishCatalog(ctx, bookDoc(t, "30.00", "10"))
	require.NoError(t, err)
	first := onboard("first")
	require.NoError(t, clk.Set(time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)))
	res, err := bill.Close(ctx, first, oct)
	require.NoError(t, err)
	require.True(t, res.Issued)
	assert.Equal(t, "30.00", res.Invoice.Subtotal.StringFixed(2))
	assert.Equal(t, "p v1 from 2026-10-01T00:00:00Z", segmentsOf(*res.Invoice))

	// Catalogue B: p costs 60.00. The old invoice still audits, from the store alone.
	require.NoError(t, clk.Set(time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)))
	pub, err := svc.PublishCatalog(ctx, bookDoc(t, "60.00", "10"))
	require.NoError(t, err)
	assert.Equal(t, []billing.PlanRef{{Plan: "p", Version: 2}}, pub.Created)
	rep := storeOnly(first, oct)
	assert.True(t, rep.Match, "%+v", rep)
	assert.Equal(t, "30.00", rep.RecomputedSubtotal)

	// A tenant onboarded after B subscribes to p v2; the first stays on v1.
	second := onboard("second")
	admin := commands.Meta{Principal: ident.Principal{UserID: "operator", Roles: []string{ident.RolePlatformAdmin}}}
	prof, err := svc.GetTenant(ctx, admin, string(second))
	require.NoError(t, err)
	assert.Equal(t, 2, prof.PlanVersion)
	prof, err = svc.GetTenant(ctx, admin, string(first))
	require.NoError(t, err)
	assert.Equal(t, 1, prof.PlanVersion, "grandfathered")

	// The first is migrated to the latest version at noon on 16 November.
	_, err = svc.MigratePlan(ctx, commands.Meta{Principal: ident.Principal{TenantID: string(first), UserID: "u", Roles: []string{ident.RoleTenantAdmin}}}, string(first), "p", 0, time.Time{})
	assert.Equal(t, domain.CodeForbidden, domain.ErrorCode(err), "an operator's action, not a tenant's")
	require.NoError(t, clk.Set(time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)))
	_, err = svc.MigratePlan(ctx, admin, string(first), "p", 0, oct.End().Add(-time.Hour))
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "October is invoiced")
	_, err = svc.MigratePlan(ctx, admin, string(first), "p", 3, time.Time{})
	assert.Equal(t, domain.CodeInvalid, domain.ErrorCode(err), "no version 3")
	migration := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	prof, err = svc.MigratePlan(ctx, admin, string(first), "p", 0, migration)
	require.NoError(t, err)
	assert.Equal(t, 2, prof.PlanVersion)

	require.NoError(t, clk.Set(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)))
	res, err = bill.Close(ctx, second, nov)
	require.NoError(t, err)
	require.True(t, res.Issued)
	assert.Equal(t, "60.00", res.Invoice.Subtotal.StringFixed(2), "B's price: 60.00 x 30/30, the sign-up day billed")

	// Day-end rule: v1 holds the ends of 1-15 November (the 15th ends at
	// 00:00 on the 16th, before the noon migration), v2 those of 16-30:
	// 30.00 x 15/30 = 15.00 and 60.00 x 15/30 = 30.00.
	res, err = bill.Close(ctx, first, nov)
	require.NoError(t, err)
	require.True(t, res.Issued)
	assert.Equal(t, "p v1 from 2026-11-01T00:00:00Z, p v2 from 2026-11-16T12:00:00Z", segmentsOf(*res.Invoice))
	var base []string
	for _, l := range res.Invoice.Lines {
		if l.Kind == billing.LineBaseFee {
			base = append(base, l.Quantity.String()+" days "+l.Amount.StringFixed(2))
		}
	}
	assert.Equal(t, []string{"15 days 15.00", "15 days 30.00"}, base)
	assert.Equal(t, "45.00", res.Invoice.Subtotal.StringFixed(2))

	for _, tc := range []struct {
		tid events.TenantID
		p   billing.Period
	}{{first, oct}, {first, nov}, {second, nov}} {
		rep := storeOnly(tc.tid, tc.p)
		assert.True(t, rep.Match, "audit of %s %s: %+v", tc.tid, tc.p, rep)
	}
}

// segmentsOf describes an invoice's segments to the second.
func segmentsOf(inv billing.Invoice) string {
	out := ""
	for i, s := range inv.Segments {
		if i > 0 {
			out += ", "
		}
		out += s.Ref().String() + " from " + s.From.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return out
}
