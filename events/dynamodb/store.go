package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/events"
)

var _ events.Store = (*Store)(nil)

// Client is the part of the DynamoDB API the store uses. *dynamodb.Client satisfies
// it; tests also pass an in-process DynamoDB.
type Client interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error)
}

// TenantClients returns the client that acts for one tenant only: on AWS one made
// with that tenant's credentials (tenantcreds.Vendor.Config), whose role allows
// only keys starting with T#<tenant># (docs/ARCHITECTURE.md, decision 9d). It is called for every
// operation in a scoped context, so it must be cheap: cache clients per tenant.
type TenantClients func(ctx context.Context, tenant events.TenantID) (Client, error)

// Store is the DynamoDB events.Store. It is safe for concurrent use, and any number
// of Stores (processes, Lambdas) may share a table.
type Store struct {
	client Client
	tenant TenantClients // nil: every operation uses client
	table  string
	clock  clock.Clock
	limits events.Limits
	settle time.Duration

	mu        sync.Mutex
	lastStamp int64 // last recorded_at handed out, in microseconds

	tenants sync.Map   // tenants known to be registered
	heads   knownHeads // versions known to be stored, per stream
	closed  atomic.Bool
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps recorded_at.
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// WithLimits overrides events.DefaultLimits.
func WithLimits(l events.Limits) Option { return func(s *Store) { s.limits = l } }

// WithSettleWindow sets how long after its recorded_at an event may still become
// visible in the tenant-history index (commit delay plus index propagation); history
// cursors re-read that window so late events are not skipped.
func WithSettleWindow(d time.Duration) Option { return func(s *Store) { s.settle = d } }

// WithTenantClients makes operations in a context scoped to a tenant
// (events.WithTenantScope) use that tenant's client. Unscoped operations keep the
// store's own client. Whatever the option, a scoped context may only reach its own
// tenant: other tenants' streams and ReadAll fail with events.ErrOutOfScope.
func WithTenantClients(f TenantClients) Option { return func(s *Store) { s.tenant = f } }

// New returns a store over an existing table (see CreateTable).
func New(client Client, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, clock: clock.System{}, limits: events.DefaultLimits, settle: 5 * time.Second}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close implements events.Store; the client is the caller's to release.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return events.ErrClosed
	}
	return ctx.Err()
}

// clientFor returns the client for an operation on tenant's keys: the tenant's
// own in a context scoped to it, the store's client in an unscoped one. A context
// scoped to another tenant is refused before anything is sent.
func (s *Store) clientFor(ctx context.Context, tenant events.TenantID) (Client, error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, err
	}
	if _, scoped := events.TenantScope(ctx); !scoped || s.tenant == nil {
		return s.client, nil
	}
	c, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("client of tenant %s: %w", tenant, err)
	}
	return c, nil
}

// stamp returns the recorded_at of an append in microseconds: never below the stream
// head's (so recorded_at never decreases along a stream, whatever the clocks of other
// writers) and strictly increasing within this Store (so sequential appends of one
// process are read back in append order).
func (s *Store) stamp(floor int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := max(s.clock.Now().UnixMicro(), s.lastStamp+1, floor)
	s.lastStamp = t
	return t
}

// requestToken makes the SDK's own retries of one transaction idempotent on the
// server (ClientRequestToken, 10 minutes). It is derived from the idempotency key and
// the attempt, because reusing a token with different parameters is an error.
// tokenKey is what a request token is derived from: the idempotency key, or
// else the append's first event id (unique), so every append is protected
// against the SDK's retries of a commit whose answer was lost.
func tokenKey(idempotencyKey, firstEventID string) string {
	if idempotencyKey != "" {
		return "k:" + idempotencyKey
	}
	return "e:" + firstEventID
}

// committed reports whether ev is stored at its version: an earlier try of this
// very append committed.
func (s *Store) committed(ctx context.Context, c Client, req events.AppendRequest, ev events.Event) (bool, error) {
	it, err := s.getItem(ctx, c, streamPK(req.Tenant, req.Stream), ev.Version)
	if err != nil || it == nil {
		return false, err
	}
	id, _ := getS(it, attrID)
	return id == ev.ID, nil
}

func requestToken(tenant events.TenantID, key string, attempt int) *string {
	if key == "" {
		return nil
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", tenant, key, attempt))
	return aws.String(hex.EncodeToString(sum[:18])) // 36 characters, the maximum
}

const maxAttempts = 200

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	res, err := s.append(ctx, req)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", req.Stream, throttled(err))
	}
	return res, nil
}

// throttled marks err as events.ErrUnavailable when DynamoDB refused a request for
// capacity even after the SDK's retries: the append wrote nothing and may be
// retried later, as after a full disk locally (a 503 with Retry-After).
func throttled(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
			return fmt.Errorf("%w: %w", events.ErrUnavailable, err)
		}
	}
	return err
}

func (s *Store) append(ctx context.Context, req events.AppendRequest) (events.AppendResult, error) {
	if err := s.check(ctx); err != nil {
		return events.AppendResult{}, err
	}
	if err := req.Validate(s.limits); err != nil {
		return events.AppendResult{}, err
	}
	c, err := s.clientFor(ctx, req.Tenant)
	if err != nil {
		return events.AppendResult{}, err
	}
	if req.IdempotencyKey != "" {
		if res, ok, err := s.duplicate(ctx, c, req); err != nil || ok {
			return res, err
		}
	}
	kept, skipped := req.Events, 0
	if req.SkipDuplicateIDs {
		kept, skipped = dedupeRequest(req.Events)
	}
	if err := s.registerTenant(ctx, c, req.Tenant); err != nil {
		return events.AppendResult{}, err
	}
	var floor int64
	for attempt := range maxAttempts {
		if err := s.check(ctx); err != nil {
			return events.AppendResult{}, err
		}
		if len(kept) == 0 {
			return events.AppendResult{Skipped: skipped}, nil
		}
		a := appendAttempt{c: c, req: req, events: kept, floor: floor}
		out, err := s.try(ctx, &a, attempt)
		switch {
		case err == nil:
			return events.AppendResult{Events: out, Skipped: skipped}, nil
		case errors.Is(err, errRetry):
			floor = a.floor
			backoff(ctx, attempt)
		case errors.Is(err, errDuplicateKey):
			res, ok, derr := s.duplicate(ctx, c, req)
			if derr != nil || ok {
				return res, derr
			}
			// The key's record is not readable yet: wait for the writer.
			backoff(ctx, attempt)
		case errors.Is(err, errDuplicateIDs):
			kept = dropEvents(kept, a.existingIDs)
			skipped = len(req.Events) - len(kept)
		default:
			return events.AppendResult{}, err
		}
	}
	return events.AppendResult{}, fmt.Errorf("gave up after %d contended attempts: %w", maxAttempts, events.ErrConcurrency)
}

var (
	errRetry        = errors.New("retry")
	errDuplicateKey = errors.New("idempotency key taken")
	errDuplicateIDs = errors.New("event ids taken")
)

func backoff(ctx context.Context, attempt int) {
	d := time.Duration(1+rand.IntN(1+min(attempt, 20))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// dedupeRequest drops events repeating an id earlier in the request.
func dedupeRequest(in []events.NewEvent) ([]events.NewEvent, int) {
	seen := make(map[string]bool, len(in))
	out := make([]events.NewEvent, 0, len(in))
	for _, e := range in {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out, len(in) - len(out)
}

func dropEvents(in []events.NewEvent, ids map[string]bool) []events.NewEvent {
	out := make([]events.NewEvent, 0, len(in))
	for _, e := range in {
		if !ids[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

// appendAttempt is one TransactWriteItems try of an append.
type appendAttempt struct {
	c      Client // the tenant's or the store's
	req    events.AppendRequest
	events []events.NewEvent
	floor  int64 // recorded_at must not go below the head's

	// set by try on failure
	existingIDs map[string]bool
}

// appendTx is the one DynamoDB transaction of an attempt. Layout:
// [idempotency record] [id records...] [claim records...] [head check] [events...].
// minidyn reports only the first failed condition, so the ones that decide the
// outcome come first.
type appendTx struct {
	items      []ddbtypes.TransactWriteItem
	built      []events.Event
	stamp      int64 // the events' recorded_at, in microseconds
	checkAt    int   // index of the head check, -1 without one
	firstEvent int   // index of the first event's put
}

// try makes one attempt at an append: size it, find the head it goes after, build
// the transaction, run it, and on failure interpret why.
func (s *Store) try(ctx context.Context, a *appendAttempt, attempt int) ([]events.Event, error) {
	records, err := txRecords(a)
	if err != nil {
		return nil, err
	}
	head, headCheck, err := s.expectedHead(ctx, a, records)
	if err != nil {
		return nil, err
	}
	t, err := s.buildTx(a, head, headCheck, records)
	if err != nil {
		return nil, err
	}
	if singlePut(a) && !headCheck {
		return s.put(ctx, a, t)
	}
	_, err = a.c.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{
		TransactItems:      t.items,
		ClientRequestToken: requestToken(a.req.Tenant, tokenKey(a.req.IdempotencyKey, t.built[0].ID), attempt),
	})
	if err == nil {
		s.noteAppended(a.req, t)
		return t.built, nil
	}
	return s.interpret(ctx, a, t, err)
}

// singlePut reports whether an attempt writes exactly one item, its one event:
// no idempotency record, no event-id record, no claim. Such an append is one
// conditional PutItem instead of a one-item transaction (half the write units),
// with the same guarantees: the event's own condition attribute_not_exists(PK)
// decides a race for its version exactly as inside a transaction, and the
// expected head is known to exist before the put (expectedHead), because events
// are never deleted (docs/aws.md, "Append").
func singlePut(a *appendAttempt) bool {
	r := a.req
	return len(a.events) == 1 && r.IdempotencyKey == "" && !r.SkipDuplicateIDs && len(r.ClaimKeys) == 0
}

// put writes a single-item attempt with a conditional PutItem.
func (s *Store) put(ctx context.Context, a *appendAttempt, t *appendTx) ([]events.Event, error) {
	p := t.items[t.firstEvent].Put
	_, err := a.c.PutItem(ctx, &ddb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression})
	if err == nil {
		s.noteAppended(a.req, t)
		return t.built, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if !isConditionFailed(err) {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "TransactionConflictException" {
			return nil, errRetry // a transaction was writing the same item; try again
		}
		return nil, fmt.Errorf("put event: %w", err)
	}
	// The version is taken: by another writer, or by an earlier try of this very
	// put whose answer was lost (PutItem has no ClientRequestToken; the SDK
	// retries), which the event's id at that version tells.
	mine, cerr := s.committed(ctx, a.c, a.req, t.built[0])
	if cerr != nil {
		return nil, cerr
	}
	if mine {
		s.noteAppended(a.req, t)
		return t.built, nil
	}
	switch a.req.Expected {
	case events.AnyVersion:
		return nil, errRetry // someone appended first: read the new head
	case events.NoStream:
		return nil, fmt.Errorf("expected no stream, stream exists: %w", events.ErrConcurrency)
	}
	return nil, fmt.Errorf("expected version %d, stream is past it: %w", a.req.Expected, events.ErrConcurrency)
}

// noteAppended remembers the head an append committed.
func (s *Store) noteAppended(req events.AppendRequest, t *appendTx) {
	last := t.built[len(t.built)-1]
	s.heads.note(req.Tenant, req.Stream, last.Version, t.stamp)
}

// txRecords counts the items an attempt's transaction needs, failing with
// ErrTooLarge past DynamoDB's limit (decision 2).
func txRecords(a *appendAttempt) (int, error) {
	req := a.req
	records := len(a.events)
	if req.IdempotencyKey != "" {
		records++
	}
	if req.SkipDuplicateIDs {
		records += len(a.events)
	}
	records += len(req.ClaimKeys)
	if records > maxTxItems {
		return 0, fmt.Errorf("%w: %d events need %d items in one DynamoDB transaction (one per event, plus one idempotency record with a key, one id record per event with SkipDuplicateIDs and one per claim key), limit %d",
			events.ErrTooLarge, len(a.events), records, maxTxItems)
	}
	return records, nil
}

// expectedHead returns the version the append goes after and whether the
// transaction checks that version's item; it raises a.floor to the head's
// recorded_at where it reads the head.
func (s *Store) expectedHead(ctx context.Context, a *appendAttempt, records int) (int64, bool, error) {
	req := a.req
	switch {
	case req.Expected == events.AnyVersion:
		v, ra, err := s.head(ctx, a.c, req.Tenant, req.Stream)
		if err != nil {
			return 0, false, err
		}
		a.floor = max(a.floor, ra)
		return v, false, nil
	case req.Expected > 0:
		head := int64(req.Expected)
		if ra, ok := s.heads.covers(req.Tenant, req.Stream, head); ok {
			// Seen stored by this Store (a Load just before, usually): it
			// exists for good, so nothing needs to check it.
			a.floor = max(a.floor, ra)
			return head, false, nil
		}
		if records < maxTxItems && !singlePut(a) {
			return head, true, nil // checked inside the transaction
		}
		return head, false, s.confirmHead(ctx, a, head)
	}
	return 0, false, nil
}

// confirmHead reads the expected head when the transaction has no room to check
// it: the head item exists for good once it exists (events are never deleted), so
// a strongly consistent read beforehand is as good as a check inside the
// transaction.
func (s *Store) confirmHead(ctx context.Context, a *appendAttempt, head int64) error {
	it, err := s.getItem(ctx, a.c, streamPK(a.req.Tenant, a.req.Stream), head)
	if err != nil {
		return err
	}
	if it == nil {
		return fmt.Errorf("expected version %d, stream is behind it: %w", head, events.ErrConcurrency)
	}
	ra, err := getN(it, attrRecorded)
	if err != nil {
		return err
	}
	a.floor = max(a.floor, ra)
	s.heads.note(a.req.Tenant, a.req.Stream, head, ra)
	return nil
}

// buildTx stamps and builds the attempt's events after head and lays out the
// transaction's items.
func (s *Store) buildTx(a *appendAttempt, head int64, headCheck bool, records int) (*appendTx, error) {
	req := a.req
	t := &appendTx{stamp: s.stamp(a.floor), checkAt: -1}
	r := req
	r.Events = a.events
	built, err := r.Build(head+1, time.UnixMicro(t.stamp))
	if err != nil {
		return nil, err
	}
	for i := range built {
		built[i].OccurredAt = built[i].OccurredAt.Truncate(time.Microsecond)
	}
	t.built = built
	t.items = make([]ddbtypes.TransactWriteItem, 0, records+1)
	if req.IdempotencyKey != "" {
		t.items = append(t.items, s.idemPut(req, head, len(built), t.stamp))
	}
	if req.SkipDuplicateIDs {
		for _, e := range built {
			t.items = append(t.items, s.idPut(req, e))
		}
	}
	for _, k := range req.ClaimKeys {
		t.items = append(t.items, s.claimPut(req, k, t.stamp))
	}
	if headCheck {
		t.checkAt = len(t.items)
		t.items = append(t.items, s.headCheck(req, head, t.stamp))
	}
	t.firstEvent = len(t.items)
	if t.items, err = s.appendEventPuts(t.items, built); err != nil {
		return nil, err
	}
	return t, nil
}

// idemPut records the idempotency key (decision 12) with the first version and
// count of the events it appends.
func (s *Store) idemPut(req events.AppendRequest, head int64, count int, stamp int64) ddbtypes.TransactWriteItem {
	return ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{
		TableName: &s.table,
		Item: map[string]ddbtypes.AttributeValue{
			attrPK: str(idemPK(req.Tenant, req.IdempotencyKey)), attrSK: num(0),
			attrKind: str(kindIdem), attrTenant: str(string(req.Tenant)), attrStream: str(string(req.Stream)),
			attrFirst: num(head + 1), attrCount: num(int64(count)),
			attrFingerprint: str(req.Fingerprint), attrRecorded: num(stamp),
			attrExpires: num(time.UnixMicro(stamp).Add(events.IdempotencyKeyTTL).Unix() + 1),
		},
		// A record older than the TTL is forgotten (DynamoDB's TTL deletes it
		// only eventually): the key starts over.
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR recorded_at <= :forgotten"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":forgotten": num(stamp - events.IdempotencyKeyTTL.Microseconds())},
	}}
}

// idPut claims an event's id in the tenant, for SkipDuplicateIDs.
func (s *Store) idPut(req events.AppendRequest, e events.Event) ddbtypes.TransactWriteItem {
	return ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{
		TableName: &s.table,
		Item: map[string]ddbtypes.AttributeValue{
			attrPK: str(idPK(req.Tenant, e.ID)), attrSK: num(0),
			attrKind: str(kindID), attrTenant: str(string(req.Tenant)), attrStream: str(string(req.Stream)),
			attrVersion: num(e.Version),
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}
}

// claimPut claims one of the request's keys (decision 13).
func (s *Store) claimPut(req events.AppendRequest, k string, stamp int64) ddbtypes.TransactWriteItem {
	item := map[string]ddbtypes.AttributeValue{
		attrPK: str(claimPK(req.Tenant, k)), attrSK: num(0),
		attrKind: str(kindClaim), attrTenant: str(string(req.Tenant)), attrStream: str(string(req.Stream)),
	}
	cond := "attribute_not_exists(PK)"
	if req.ClaimTTL > 0 {
		// DynamoDB's TTL deletes the claim some time after expires_at; until it
		// does, an expired claim is as good as absent, so it may be taken again.
		item[attrExpires] = num(time.UnixMicro(stamp).Add(req.ClaimTTL).Unix() + 1)
		cond = "attribute_not_exists(PK) OR " + attrExpires + " < :now"
	}
	put := &ddbtypes.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String(cond)}
	if req.ClaimTTL > 0 {
		put.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":now": num(time.UnixMicro(stamp).Unix())}
	}
	return ddbtypes.TransactWriteItem{Put: put}
}

// headCheck requires the expected head to exist and to be stamped no later than
// the new events (decision 2).
func (s *Store) headCheck(req events.AppendRequest, head, stamp int64) ddbtypes.TransactWriteItem {
	return ddbtypes.TransactWriteItem{ConditionCheck: &ddbtypes.ConditionCheck{
		TableName:                 &s.table,
		Key:                       key(streamPK(req.Tenant, req.Stream), head),
		ConditionExpression:       aws.String("attribute_exists(PK) AND recorded_at <= :ra"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":ra": num(stamp)},
	}}
}

// appendEventPuts adds a put per event to items, failing with ErrTooLarge past
// DynamoDB's item or transaction size.
func (s *Store) appendEventPuts(items []ddbtypes.TransactWriteItem, built []events.Event) ([]ddbtypes.TransactWriteItem, error) {
	total := 0
	for _, e := range built {
		it := eventItem(e)
		size := itemSize(it)
		if size > maxItemBytes {
			return nil, fmt.Errorf("%w: event %s is %d bytes stored, DynamoDB's item limit is %d", events.ErrTooLarge, e.Type, size, maxItemBytes)
		}
		total += size
		items = append(items, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{
			TableName: &s.table, Item: it,
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}})
	}
	if total > maxTxBytes {
		return nil, fmt.Errorf("%w: %d events are %d bytes stored, DynamoDB's transaction limit is %d", events.ErrTooLarge, len(built), total, maxTxBytes)
	}
	return items, nil
}

// interpret turns a failed TransactWriteItems into the attempt's result: a
// cancellation is explained, and one that may hide our own earlier commit is
// checked for it.
func (s *Store) interpret(ctx context.Context, a *appendAttempt, t *appendTx, err error) ([]events.Event, error) {
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	var canceled *ddbtypes.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return nil, notCancelled(err)
	}
	outcome := s.explain(ctx, a, canceled.CancellationReasons, t.checkAt, t.firstEvent, t.stamp)
	if !errors.Is(outcome, events.ErrConcurrency) && !errors.Is(outcome, errRetry) &&
		!errors.Is(outcome, errDuplicateIDs) && !errors.Is(outcome, events.ErrKeyClaimed) {
		return nil, outcome
	}
	// The SDK retries a request whose answer was lost; if the first try
	// committed, the retry finds its own events in place. DynamoDB answers
	// such a retry from the ClientRequestToken, but not every implementation
	// honours it (moto does not), so look: the first event's id at its
	// version proves the transaction committed (it is all or nothing).
	mine, err := s.committed(ctx, a.c, a.req, t.built[0])
	if err != nil {
		return nil, err
	}
	if mine {
		return t.built, nil
	}
	return nil, outcome
}

// notCancelled maps a transaction error other than a cancellation.
func notCancelled(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "IdempotentParameterMismatchException", "TransactionInProgressException":
			// Another append with the same key is in flight or done.
			return errDuplicateKey
		}
	}
	return fmt.Errorf("transact write: %w", err)
}

// explain turns a cancelled transaction into the outcome of the attempt.
func (s *Store) explain(ctx context.Context, a *appendAttempt, reasons []ddbtypes.CancellationReason, checkAt, firstEvent int, stamp int64) error {
	req := a.req
	failed := func(i int) bool {
		return i >= 0 && i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed"
	}
	conflict := false
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case "", "None", "ConditionalCheckFailed":
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
			conflict = true
		default:
			return fmt.Errorf("transaction cancelled: %s: %s", aws.ToString(r.Code), aws.ToString(r.Message))
		}
	}
	i := 0
	if req.IdempotencyKey != "" {
		if failed(0) {
			return errDuplicateKey
		}
		i++
	}
	if req.SkipDuplicateIDs {
		taken := map[string]bool{}
		for _, e := range a.events {
			if failed(i) {
				taken[e.ID] = true
			}
			i++
		}
		if len(taken) > 0 {
			a.existingIDs = taken
			return errDuplicateIDs
		}
	}
	for _, k := range req.ClaimKeys {
		if failed(i) {
			return fmt.Errorf("key %q: %w", k, events.ErrKeyClaimed)
		}
		i++
	}
	if failed(checkAt) {
		it, err := s.getItem(ctx, a.c, streamPK(req.Tenant, req.Stream), int64(req.Expected))
		if err != nil {
			return err
		}
		if it != nil {
			if ra, err := getN(it, attrRecorded); err == nil && ra > stamp {
				// The head was stamped by a writer whose clock is ahead: stamp at or
				// after it and try again.
				a.floor = ra
				return errRetry
			}
		}
		return fmt.Errorf("expected version %d, stream is not at it: %w", req.Expected, events.ErrConcurrency)
	}
	for j := firstEvent; j < len(reasons); j++ {
		if failed(j) {
			if req.Expected == events.AnyVersion {
				return errRetry // someone appended first: read the new head
			}
			return fmt.Errorf("expected version %d, stream is past it: %w", req.Expected, events.ErrConcurrency)
		}
	}
	if conflict {
		return errRetry // a concurrent transaction touched the same items; try again
	}
	return fmt.Errorf("transaction cancelled without a reason: %w", events.ErrConcurrency)
}

// duplicate returns the first result of an append with req's idempotency key, if
// the key is remembered and was used for the same request.
func (s *Store) duplicate(ctx context.Context, c Client, req events.AppendRequest) (events.AppendResult, bool, error) {
	rec, found, err := s.idempotency(ctx, c, req.Tenant, req.IdempotencyKey)
	if err != nil || !found {
		return events.AppendResult{}, false, err
	}
	if !rec.Matches(req.Stream, req.Fingerprint) {
		return events.AppendResult{}, false, fmt.Errorf("key %q was used for another request: %w", req.IdempotencyKey, events.ErrIdempotencyKeyReuse)
	}
	return rec.Result, true, nil
}

// Idempotency implements events.Store with strongly consistent reads.
func (s *Store) Idempotency(ctx context.Context, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	if err := s.check(ctx); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if err := tenant.Validate(); err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if key == "" {
		return events.IdempotencyRecord{}, false, nil
	}
	c, err := s.clientFor(ctx, tenant)
	if err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	rec, found, err := s.idempotency(ctx, c, tenant, key)
	if err != nil {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency: %w", err)
	}
	return rec, found, nil
}

// idempotency reads the tenant's key record and the events it names; found is
// false when there is none or it has expired.
func (s *Store) idempotency(ctx context.Context, c Client, tenant events.TenantID, key string) (events.IdempotencyRecord, bool, error) {
	it, err := s.getItem(ctx, c, idemPK(tenant, key), 0)
	if err != nil || it == nil {
		return events.IdempotencyRecord{}, false, err
	}
	var created time.Time
	if ra, err := getN(it, attrRecorded); err == nil {
		created = time.UnixMicro(ra).UTC()
		if events.IdempotencyExpired(created, s.clock.Now()) {
			return events.IdempotencyRecord{}, false, nil
		}
	}
	stream, _ := getS(it, attrStream)
	fp, _ := getS(it, attrFingerprint)
	first, err := getN(it, attrFirst)
	if err != nil {
		return events.IdempotencyRecord{}, false, err
	}
	count, err := getN(it, attrCount)
	if err != nil {
		return events.IdempotencyRecord{}, false, err
	}
	evs, err := s.loadRange(ctx, c, tenant, events.StreamID(stream), first, first+count-1)
	if err != nil {
		return events.IdempotencyRecord{}, false, err
	}
	if int64(len(evs)) != count {
		return events.IdempotencyRecord{}, false, fmt.Errorf("idempotency record of key %q names %d events, found %d", key, count, len(evs))
	}
	return events.IdempotencyRecord{Stream: events.StreamID(stream), Fingerprint: fp, Created: created,
		Result: events.AppendResult{Events: evs, Duplicate: true}}, true, nil
}

// registerTenant writes the tenant's registry item, which ReadAll walks, before its
// first event, so every stored event belongs to a registered tenant.
func (s *Store) registerTenant(ctx context.Context, c Client, t events.TenantID) error {
	if _, ok := s.tenants.Load(t); ok {
		return nil
	}
	_, err := c.PutItem(ctx, &ddb.PutItemInput{
		TableName: &s.table,
		Item: map[string]ddbtypes.AttributeValue{
			attrPK: str(tenantPK(t)), attrSK: num(0), attrKind: str(kindTenant), attrTenant: str(string(t)),
			attrGSI1PK: str(registryPK), attrGSI1SK: str(string(t)),
			attrRecorded: num(s.clock.Now().UnixMicro()),
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("register tenant %s: %w", t, err)
	}
	s.tenants.Store(t, true)
	return nil
}

func isConditionFailed(err error) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ConditionalCheckFailedException"
}

func (s *Store) getItem(ctx context.Context, c Client, pk string, sk int64) (map[string]ddbtypes.AttributeValue, error) {
	out, err := c.GetItem(ctx, &ddb.GetItemInput{TableName: &s.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get %s/%d: %w", pk, sk, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// head returns the stream's last version and its recorded_at (0, 0 for no stream).
func (s *Store) head(ctx context.Context, c Client, t events.TenantID, st events.StreamID) (int64, int64, error) {
	out, err := c.Query(ctx, &ddb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": str(streamPK(t, st))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read head: %w", err)
	}
	if len(out.Items) == 0 {
		return 0, 0, nil
	}
	v, err := getN(out.Items[0], attrSK)
	if err != nil {
		return 0, 0, err
	}
	ra, err := getN(out.Items[0], attrRecorded)
	if err != nil {
		return 0, 0, err
	}
	s.heads.note(t, st, v, ra)
	return v, ra, nil
}

var _ events.KeyClaimer = (*Store)(nil)

// MaxClaimKeys is how many keys one append may claim: each is an item of the
// append's transaction, which also holds at least one event.
func (s *Store) MaxClaimKeys() int { return maxTxItems - 1 }

// ClaimedKeys implements events.KeyClaimer with a strongly consistent read per key.
func (s *Store) ClaimedKeys(ctx context.Context, tenant events.TenantID, keys []string) (map[string]bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	c, err := s.clientFor(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("claimed keys: %w", err)
	}
	out := map[string]bool{}
	now := s.clock.Now().Unix()
	for _, k := range keys {
		it, err := s.getItem(ctx, c, claimPK(tenant, k), 0)
		if err != nil {
			return nil, fmt.Errorf("claimed keys: %w", err)
		}
		if it == nil {
			continue
		}
		// A claim past its expiry is absent, whether or not TTL deleted it yet.
		if exp, err := getN(it, attrExpires); err == nil && exp < now {
			continue
		}
		out[k] = true
	}
	return out, nil
}
