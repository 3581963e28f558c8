package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/metering"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/memstore"
	"github.com/tenantstream/tenantstream/events/schema"
)

// barrierStore holds every Idempotency lookup until n callers are waiting (or
// a short timeout passes), so that n concurrent keyed requests all get past
// their "was this key used?" check before any of them writes: the interleaving
// that 40 concurrent requests with one key produce on a real server, made
// deterministic. A fixed command that does not rely on the lookup alone is not
// held forever.
type barrierStore struct {
	*memstore.Store
	mu      sync.Mutex
	n       int
	waiting int
	release chan struct{}
}

func newBarrierStore(s *memstore.Store, n int) *barrierStore {
	return &barrierStore{Store: s, n: n, release: make(chan struct{})}
}

func (b *barrierStore) Idempotency(ctx context.Context, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	rec, found, err := b.Store.Idempotency(ctx, tenant, key) // looked up now, answered after the barrier
	b.mu.Lock()
	if b.n > 0 {
		b.waiting++
		if b.waiting == b.n {
			close(b.release)
			b.n = 0
		}
		ch := b.release
		b.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
		}
	} else {
		b.mu.Unlock()
	}
	return rec, found, err
}

// a usage report that answers 422 (its Idempotency-Key was used for
// another report) must change nothing (docs/api.md, Idempotency), but when the
// reports race, every loser has already stored its records before the key's
// answer is appended: the client is told "422, nothing done" while its usage is
// billed. On the live server, 40 concurrent reports with one key and 40
// different record ids gave 1 x 202 and 39 x 422, and 4 of the 40 ids were
// stored.
func TestUsageReportRefusedForItsKeyStoresNothing(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "usagerace")
	const n = 8
	f.svc.Store = newBarrierStore(f.store, n)

	codes := make([]domain.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mk := m
			mk.IdempotencyKey, mk.Fingerprint = "one-key", fmt.Sprintf("report-%d", i)
			_, err := f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{
				{ID: fmt.Sprintf("rec-%d", i), Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
			})
			if err != nil {
				codes[i] = domain.ErrorCode(err)
			}
		})
	}
	wg.Wait()
	f.svc.Store = f.store

	refused := 0
	for i, c := range codes {
		if c != domain.CodeUnprocessable {
			continue
		}
		refused++
		res, err := f.svc.RecordUsage(f.ctx, m, tid, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{
			{ID: fmt.Sprintf("rec-%d", i), Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
		})
		require.NoError(t, err)
		assert.Equal(t, commands.UsageResult{Accepted: 1}, res, "report %d was answered 422, yet its record rec-%d had been stored", i, i)
	}
	assert.Equal(t, n-1, refused, "one report wins the key, the others are 422: %v", codes)
}

// Forty concurrent copies of one keyed report (a client retrying hard) all get
// the first attempt's answer: the copies that find the key claimed wait for it.
func TestConcurrentCopiesOfAKeyedReportGetOneAnswer(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "usagecopies")
	mk := m
	mk.IdempotencyKey, mk.Fingerprint = "one-key", "the-report"
	recs := []commands.UsageRecord{
		{ID: "r1", Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
		{ID: "r2", Meter: "compute_seconds", Quantity: "2", Timestamp: f.clk.Now()},
	}
	const n = 40
	answers := make([]commands.UsageResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, recs)
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, commands.UsageResult{Accepted: 2}, answers[i], "copy %d", i)
	}
}

// A keyed report that crashed after claiming its key (and after storing some
// records) holds the key for ClaimLease: its retry is a 409 with Retry-After
// meanwhile, then runs the report again, storing each record once, and every
// later retry gets that answer.
func TestKeyedReportResumesAnAbandonedClaim(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "usagecrash")
	mk := m
	mk.IdempotencyKey, mk.Fingerprint = "K", "the-report"
	recs := []commands.UsageRecord{
		{ID: "r1", Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
		{ID: "r2", Meter: "compute_seconds", Quantity: "2", Timestamp: f.clk.Now()},
	}
	crash := &failingAnswerAppend{Store: f.store}
	f.svc.Store = crash
	_, err := f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, recs)
	require.Error(t, err, "the attempt crashes before its answer")
	f.svc.Store = f.store

	_, err = f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, recs)
	require.Equal(t, domain.CodeConflict, domain.ErrorCode(err), "the claim is fresh")
	var ra interface{ RetryAfter() time.Duration }
	require.ErrorAs(t, err, &ra)
	assert.Equal(t, time.Second, ra.RetryAfter())

	other := mk
	other.Fingerprint = "another-report"
	_, err = f.svc.RecordUsage(f.ctx, other, tid, commands.Catalog{Catalog: f.cat}, recs[:1])
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err))

	require.NoError(t, f.clk.Set(f.clk.Now().Add(commands.ClaimLease)))
	res, err := f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, recs)
	require.NoError(t, err)
	assert.Equal(t, commands.UsageResult{Accepted: 0, Duplicates: 2}, res, "the crashed attempt stored both records")
	again, err := f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, recs)
	require.NoError(t, err)
	assert.Equal(t, res, again)
}

// failingAnswerAppend fails the append of a usage report's answer, as a crash
// after its records would.
type failingAnswerAppend struct{ *memstore.Store }

func (s *failingAnswerAppend) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if len(req.Events) == 1 && req.Events[0].Type == "usage.report_answered" {
		return events.AppendResult{}, errors.New("crash")
	}
	return s.Store.Append(ctx, req)
}

// A report answered before claims existed kept its answer under its key in
// one stream; its retry still gets that answer.
func TestKeyedReportAnsweredBeforeClaimsExistedKeepsItsAnswer(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
	tid, m := f.onboard(t, "usagelegacy")
	ne, err := schema.Registry.New(&metering.ReportAnswered{Accepted: 7, Duplicates: 1})
	require.NoError(t, err)
	_, err = f.store.Append(f.ctx, events.AppendRequest{
		Tenant: events.TenantID(tid), Stream: metering.AnswersStreamID, StreamType: metering.AnswersStreamType,
		Expected: events.AnyVersion, IdempotencyKey: "c:old", Fingerprint: "the-report", Events: []events.NewEvent{ne},
	})
	require.NoError(t, err)
	mk := m
	mk.IdempotencyKey, mk.Fingerprint = "old", "the-report"
	res, err := f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{
		{ID: "r1", Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
	})
	require.NoError(t, err)
	assert.Equal(t, commands.UsageResult{Accepted: 7, Duplicates: 1}, res)
	mk.Fingerprint = "another-report"
	_, err = f.svc.RecordUsage(f.ctx, mk, tid, commands.Catalog{Catalog: f.cat}, []commands.UsageRecord{
		{ID: "r1", Meter: "compute_seconds", Quantity: "1", Timestamp: f.clk.Now()},
	})
	assert.Equal(t, domain.CodeUnprocessable, domain.ErrorCode(err))
}
