package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

var (
	_ projections.Backend = (*Backend)(nil)
	_ projections.Dumper  = (*Backend)(nil)
)

// MaxTransactItems is DynamoDB's limit of actions in one TransactWriteItems.
const MaxTransactItems = 100

var (
	// ErrConflict: a checkpoint or the generation state changed since this
	// transaction read it (a concurrent or duplicated invocation got there first).
	// Nothing of the failing transaction was written; redeliver the batch. It
	// wraps projections.ErrConflict, which a rebuild retries after its switch.
	ErrConflict = fmt.Errorf("projections/dynamodb: %w", projections.ErrConflict)
	// ErrTooManyWrites: the actions that must commit with one checkpoint (writes
	// of values read, parked events, checks) exceed MaxTransactItems. Through the
	// engine such an event is parked (projections.ErrTooManyWrites) before the
	// commit; a transaction used directly fails its Commit with this.
	ErrTooManyWrites = errors.New("projections/dynamodb: one event's writes exceed the transaction limit")
)

// Client is the part of the DynamoDB API the backend uses. *dynamodb.Client
// satisfies it.
type Client interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	Scan(ctx context.Context, in *ddb.ScanInput, opts ...func(*ddb.Options)) (*ddb.ScanOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	BatchWriteItem(ctx context.Context, in *ddb.BatchWriteItemInput, opts ...func(*ddb.Options)) (*ddb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error)
}

var _ Client = (*ddb.Client)(nil)

// Options configure a Backend.
type Options struct {
	// Table is the read-model table (see CreateTable). Required.
	Table string
	// MaxTransactItems caps the actions per TransactWriteItems; default and
	// maximum MaxTransactItems. Tests lower it to exercise splitting.
	MaxTransactItems int
	// TenantClients, when set, returns the client that acts for one tenant only
	// (on AWS one made with that tenant's credentials, whose role allows keys
	// starting with T#<tenant>#, docs/ARCHITECTURE.md, decision 9d). Get and List in a context
	// scoped to a tenant (events.WithTenantScope) read the tenant's items with
	// it. It is called for every such read, so it must be cheap: cache clients
	// per tenant. Whatever this option, a scoped context reads only its own
	// tenant, and everything but Get and List is refused there
	// (events.ErrOutOfScope): transactions, rebuilds and dumps are platform work.
	TenantClients func(ctx context.Context, tenant events.TenantID) (Client, error)
	// GenerationTTL is how long scoped reads reuse a projection's generation
	// state (default 1 s). See Backend.
	GenerationTTL time.Duration
	// GenerationFence, when positive, lets live transactions take a
	// projection's generation state from the one this Backend read last instead
	// of reading it and checking it in every commit: a state read at R serves
	// until R + GenerationFence, batches whose newest event was recorded by then, and a
	// rebuild on this Backend waits the fence out after its switch
	// (projections.GenerationFencer; docs/ARCHITECTURE.md, "Generation fence").
	// Every Backend on a table, the projectors' and the rebuild's, must use the
	// same value (wire sets DefaultGenerationFence). Zero: read and check on
	// every commit.
	GenerationFence time.Duration
	// GenerationRecheck is how old a reused generation state must be before a
	// scoped read that found nothing reads it again (default 100 ms), so misses
	// (every new item's first write) do not all land on the one state item. It
	// must stay below the settle window a rebuild waits before dropping the old
	// generation (5 s on the DynamoDB store), which it then cannot miss.
	GenerationRecheck time.Duration
}

// Backend is a projections.Backend on one DynamoDB table. A transaction buffers
// its writes and commits them with the checkpoints they advance in
// TransactWriteItems, each checkpoint conditioned on the value the transaction
// read, so a duplicated or concurrent invocation (two projector Lambdas given
// the same records) fails with ErrConflict instead of applying events twice,
// and each write of a value read from the table is conditioned on that value,
// so concurrent read-modify-writes of one key lose nothing. A batch larger than
// one transaction is cut at event boundaries, each piece committing with the
// checkpoint of its last event; one event's writes of values never read may go
// first, in transactions of their own (docs/ARCHITECTURE.md, "Projections").
//
// Transactions of one Backend are serialized in process, as the interface asks;
// across processes the conditions keep them correct.
//
// Scoped reads (Options.TenantClients). A query first reads its projection's
// generation state (P#<projection> / GEN), which is platform metadata: in a
// scoped context it is read with the backend's own client, never the tenant's,
// so the tenant role needs no access to P# items (that partition also holds
// parked events of every tenant). Every query reads the same item, so scoped
// reads reuse it for GenerationTTL: a hot key would otherwise cap the queries of
// the whole platform. A rebuild's switch therefore reaches scoped reads up to
// GenerationTTL late, and the rebuild then drops the old generation (after its
// settle step, on a store with a settle window): a scoped read that finds
// nothing in a reused generation at least GenerationRecheck old re-reads the
// state and, if the generation moved, reads again from the new one. Unscoped
// reads read the state every time.
type Backend struct {
	client   Client
	tenant   func(ctx context.Context, tenant events.TenantID) (Client, error)
	table    string
	maxItems int
	mu       sync.Mutex

	genTTL     time.Duration
	genRecheck time.Duration
	genMu      sync.Mutex
	gens       map[string]cachedGen // by projection, for scoped reads

	fence    time.Duration
	liveMu   sync.Mutex
	liveGens map[string]fencedGen // by projection, for live transactions
}

// DefaultGenerationFence is the fence the platform's projectors and rebuilds use
// (wire): a projector instance reads a projection's generation state about twice
// a minute, and a rebuild waits 30 s more after its switch.
const DefaultGenerationFence = 30 * time.Second

// fencedGen is a generation state live transactions reuse, with the wall time
// its read was sent (before the read: the state is at least that recent).
type fencedGen struct {
	g      *genState
	readAt time.Time
}

// covers reports whether the state may serve, at wall time now, a batch whose
// newest event was recorded at newest: both within the fence of the read. The
// first bound holds the events a stale state may send to the old generation to
// those the rebuild's last catch-up reads (every event was committed before it
// was delivered, so before now); the second does the same in the events' own
// time, should the store's clock run ahead of ours.
func (f fencedGen) covers(newest, now time.Time, fence time.Duration) bool {
	until := f.readAt.Add(fence)
	return f.g != nil && !newest.IsZero() && !newest.After(until) && !now.After(until)
}

// GenerationFence implements projections.GenerationFencer when the fence is on.
func (b *Backend) GenerationFence() time.Duration { return b.fence }

type cachedGen struct {
	g      *genState
	until  time.Time // reused until then
	readAt time.Time // read (or last re-checked for a miss) then
}

// New returns a Backend on an existing table.
func New(client Client, opts Options) (*Backend, error) {
	if client == nil || opts.Table == "" {
		return nil, errors.New("new dynamodb read-model backend: client and table are required")
	}
	if opts.MaxTransactItems <= 0 || opts.MaxTransactItems > MaxTransactItems {
		opts.MaxTransactItems = MaxTransactItems
	}
	if opts.GenerationTTL <= 0 {
		opts.GenerationTTL = time.Second
	}
	if opts.GenerationRecheck <= 0 {
		opts.GenerationRecheck = 100 * time.Millisecond
	}
	return &Backend{client: client, tenant: opts.TenantClients, table: opts.Table, maxItems: opts.MaxTransactItems,
		genTTL: opts.GenerationTTL, genRecheck: opts.GenerationRecheck, gens: map[string]cachedGen{},
		fence: max(opts.GenerationFence, 0), liveGens: map[string]fencedGen{}}, nil
}

// CreateTable creates the read-model table (PK and SK strings, on-demand
// billing) and waits until it is active. An existing table is not an error.
func CreateTable(ctx context.Context, client *ddb.Client, table string) error {
	_, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := ddb.NewTableExistsWaiter(client, func(o *ddb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	return nil
}

// Close implements projections.Backend; the client needs no closing.
func (b *Backend) Close() error { return nil }

// Begin implements projections.Backend.
func (b *Backend) Begin(ctx context.Context) (projections.BackendTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if err := events.CheckUnscoped(ctx, "read-model transaction"); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	b.mu.Lock()
	return newTx(b), nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: pk}, attrSK: &types.AttributeValueMemberS{Value: sk}}
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func (b *Backend) getItem(ctx context.Context, c Client, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := c.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(b.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// genState is a projection's generation state item: the default generation and
// per-tenant overrides, with a revision for optimistic updates. Overrides live
// in one map so a query resolves a tenant's generation with one read; a
// switch for all tenants clears them.
type genState struct {
	exists  bool
	def     int64
	tenants map[string]int64
	rev     int64
}

func (g *genState) active(tenant events.TenantID) int64 {
	if v, ok := g.tenants[string(tenant)]; ok {
		return v
	}
	if g.def == 0 {
		return 1
	}
	return g.def
}

// readGenState reads the state with the backend's own client, in any context.
func (b *Backend) readGenState(ctx context.Context, projection string) (*genState, error) {
	item, err := b.getItem(ctx, b.client, projPK(projection), skGenState)
	if err != nil {
		return nil, fmt.Errorf("read generation state of %s: %w", projection, err)
	}
	g := &genState{tenants: map[string]int64{}, def: 1}
	if item == nil {
		return g, nil
	}
	g.exists, g.def, g.rev = true, getN(item, attrDefault), getN(item, attrRev)
	if m, ok := item[attrTenants].(*types.AttributeValueMemberM); ok {
		for t, v := range m.Value {
			if n, ok := v.(*types.AttributeValueMemberN); ok {
				g.tenants[t], _ = strconv.ParseInt(n.Value, 10, 64)
			}
		}
	}
	return g, nil
}

func (g *genState) item(projection string) map[string]types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(g.tenants))
	for t, v := range g.tenants {
		m[t] = num(v)
	}
	item := key(projPK(projection), skGenState)
	item[attrProj], item[attrDefault], item[attrRev] = str(projection), num(g.def), num(g.rev)
	item[attrTenants] = &types.AttributeValueMemberM{Value: m}
	return item
}

// readClient returns the client a query of tenant's read models uses: the
// tenant's own in a context scoped to it, the backend's in an unscoped one.
func (b *Backend) readClient(ctx context.Context, tenant events.TenantID) (c Client, scoped bool, err error) {
	if err := events.CheckScope(ctx, tenant); err != nil {
		return nil, false, err
	}
	if _, scoped = events.TenantScope(ctx); !scoped || b.tenant == nil {
		return b.client, scoped, nil
	}
	if c, err = b.tenant(ctx, tenant); err != nil {
		return nil, true, fmt.Errorf("client of tenant %s: %w", tenant, err)
	}
	return c, true, nil
}

// generation returns the generation a query of tenant reads. Scoped reads reuse
// a state read within GenerationTTL unless fresh is set; cached reports a reuse.
func (b *Backend) generation(ctx context.Context, projection string, tenant events.TenantID, scoped, fresh bool) (gen int64, cached bool, err error) {
	if scoped && !fresh {
		b.genMu.Lock()
		c, ok := b.gens[projection]
		b.genMu.Unlock()
		if ok && time.Now().Before(c.until) {
			return c.g.active(tenant), true, nil
		}
	}
	g, err := b.readGenState(ctx, projection)
	if err != nil {
		return 0, false, err
	}
	if scoped {
		b.genMu.Lock()
		now := time.Now()
		b.gens[projection] = cachedGen{g: g, until: now.Add(b.genTTL), readAt: now}
		b.genMu.Unlock()
	}
	return g.active(tenant), false, nil
}

// read runs a query of tenant's read model in the active generation. A scoped
// read that found nothing in a reused generation re-reads the state and, when a
// rebuild moved the generation meanwhile, runs again there.
func (b *Backend) read(ctx context.Context, projection string, tenant events.TenantID, found func(error) bool, query func(c Client, gen int64) error) error {
	c, scoped, err := b.readClient(ctx, tenant)
	if err != nil {
		return err
	}
	gen, cached, err := b.generation(ctx, projection, tenant, scoped, false)
	if err != nil {
		return err
	}
	err = query(c, gen)
	if !cached || found(err) || !b.claimRecheck(projection) {
		return err
	}
	again, _, gerr := b.generation(ctx, projection, tenant, scoped, true)
	if gerr != nil || again == gen {
		return err
	}
	return query(c, again)
}

// claimRecheck reports whether a scoped miss should re-read projection's
// generation state: only when the reused state is older than GenerationRecheck,
// and then for one caller (the claim moves readAt), so concurrent misses share
// one read.
func (b *Backend) claimRecheck(projection string) bool {
	b.genMu.Lock()
	defer b.genMu.Unlock()
	c, ok := b.gens[projection]
	now := time.Now()
	if ok && now.Sub(c.readAt) < b.genRecheck {
		return false
	}
	c.readAt = now
	b.gens[projection] = c
	return true
}

// Get implements projections.Reader.
func (b *Backend) Get(ctx context.Context, projection string, tenant events.TenantID, collection, k string) ([]byte, error) {
	var out []byte
	err := b.read(ctx, projection, tenant, func(err error) bool { return !errors.Is(err, projections.ErrNotFound) },
		func(c Client, gen int64) (err error) {
			out, err = b.getValue(ctx, c, rmPK(projection, gen, tenant, collection), k)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s/%s: %w", projection, collection, k, err)
	}
	return out, nil
}

func (b *Backend) getValue(ctx context.Context, c Client, pk, k string) ([]byte, error) {
	item, err := b.getItem(ctx, c, pk, rmSK(k))
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", pk, k, err)
	}
	if item == nil {
		return nil, fmt.Errorf("get %s %s: %w", pk, k, projections.ErrNotFound)
	}
	v, ok := item[attrValue].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("get %s %s: value is not binary", pk, k)
	}
	return v.Value, nil
}

// AppliedVersion implements projections.AppliedVersionReader: the stream's
// checkpoint in the active generation, read like a value (scoped reads with the
// tenant's client: checkpoints are keyed T#<tenant>#...).
func (b *Backend) AppliedVersion(ctx context.Context, projection string, tenant events.TenantID, stream events.StreamID) (int64, error) {
	var v int64
	err := b.read(ctx, projection, tenant, func(err error) bool { return err != nil || v > 0 },
		func(c Client, gen int64) error {
			item, err := b.getItem(ctx, c, cpPK(projection, gen, tenant), string(stream))
			v = getN(item, attrVersion)
			return err
		})
	if err != nil {
		return 0, fmt.Errorf("applied version %s/%s: %w", projection, stream, err)
	}
	return v, nil
}

// List implements projections.Reader.
func (b *Backend) List(ctx context.Context, projection string, tenant events.TenantID, collection, after string, limit int) ([]projections.Entry, error) {
	var out []projections.Entry
	err := b.read(ctx, projection, tenant, func(err error) bool { return err != nil || len(out) > 0 },
		func(c Client, gen int64) (err error) {
			out, err = b.query(ctx, c, rmPK(projection, gen, tenant, collection), after, normLimit(limit))
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", projection, collection, err)
	}
	return out, nil
}

// normLimit treats a non-positive List limit as the default page of 1,000, as
// the other backends do.
func normLimit(limit int) int {
	if limit <= 0 {
		return 1000
	}
	return limit
}

// query returns up to limit entries of partition pk with keys > after, paging
// through DynamoDB's 1 MB responses.
func (b *Backend) query(ctx context.Context, c Client, pk, after string, limit int) ([]projections.Entry, error) {
	var out []projections.Entry
	in := &ddb.QueryInput{
		TableName:                 aws.String(b.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk > :after"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":after": str(rmSK(after))},
		ConsistentRead:            aws.Bool(true),
	}
	for len(out) < limit {
		in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		page, err := c.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pk, err)
		}
		for _, item := range page.Items {
			v, _ := item[attrValue].(*types.AttributeValueMemberB)
			if v == nil {
				continue
			}
			out = append(out, projections.Entry{Key: getS(item, attrSK)[len(skKeyPrefix):], Value: v.Value})
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}

// Parked implements projections.Backend.
func (b *Backend) Parked(ctx context.Context, projection string) ([]projections.ParkedEvent, error) {
	if err := events.CheckUnscoped(ctx, "parked events"); err != nil {
		return nil, fmt.Errorf("parked %s: %w", projection, err)
	}
	items, err := b.parkedItems(ctx, projection)
	if err != nil {
		return nil, err
	}
	out := make([]projections.ParkedEvent, 0, len(items))
	for _, it := range items {
		at, err := time.Parse(time.RFC3339Nano, getS(it, attrAt))
		if err != nil {
			return nil, fmt.Errorf("parked %s: parked at %q: %w", projection, getS(it, attrAt), err)
		}
		out = append(out, projections.ParkedEvent{
			Projection: projection, EventID: getS(it, attrEventID), Tenant: events.TenantID(getS(it, attrTenant)),
			Stream: events.StreamID(getS(it, attrStream)), Version: getN(it, attrVersion), Type: getS(it, attrType),
			Reason: getS(it, attrReason), ParkedAt: at,
		})
	}
	return out, nil
}

func (b *Backend) parkedItems(ctx context.Context, projection string) ([]map[string]types.AttributeValue, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(b.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(projPK(projection)), ":p": str(skParkedPrefix)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []map[string]types.AttributeValue
	p := ddb.NewQueryPaginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("parked %s: %w", projection, err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

func parkedItem(p projections.ParkedEvent) map[string]types.AttributeValue {
	item := key(projPK(p.Projection), parkedSK(p.ParkedAt, p.EventID))
	item[attrProj], item[attrEventID], item[attrTenant] = str(p.Projection), str(p.EventID), str(string(p.Tenant))
	item[attrStream], item[attrVersion], item[attrType] = str(string(p.Stream)), num(p.Version), str(p.Type)
	item[attrReason], item[attrAt] = str(p.Reason), str(p.ParkedAt.UTC().Format(time.RFC3339Nano))
	return item
}

// scan returns the keys and attributes of every read-model and checkpoint item
// of projection that keep selects. Dropping generations is rare (after a
// rebuild), so a filtered scan is preferred to an index that every read-model
// write would pay for.
func (b *Backend) scan(ctx context.Context, projection string, keep func(map[string]types.AttributeValue) bool) ([]map[string]types.AttributeValue, error) {
	in := &ddb.ScanInput{
		TableName:                 aws.String(b.table),
		FilterExpression:          aws.String("#proj = :p AND attribute_exists(#gen)"),
		ExpressionAttributeNames:  map[string]string{"#proj": attrProj, "#gen": attrGen},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(projection)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []map[string]types.AttributeValue
	p := ddb.NewScanPaginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", projection, err)
		}
		for _, it := range page.Items {
			if keep(it) {
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// deleteItems deletes items in batches of 25 (BatchWriteItem's limit), retrying
// unprocessed ones.
func (b *Backend) deleteItems(ctx context.Context, items []map[string]types.AttributeValue) error {
	for len(items) > 0 {
		n := min(25, len(items))
		reqs := make([]types.WriteRequest, n)
		for i, it := range items[:n] {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(getS(it, attrPK), getS(it, attrSK))}}
		}
		items = items[n:]
		pending := map[string][]types.WriteRequest{b.table: reqs}
		for attempt := 0; len(pending[b.table]) > 0; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return fmt.Errorf("delete items: %w", ctx.Err())
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
			}
			out, err := b.client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("delete items: %w", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// DropGenerations implements projections.Backend.
func (b *Backend) DropGenerations(ctx context.Context, projection string, tenant events.TenantID, keep int64) error {
	if err := events.CheckUnscoped(ctx, "dropping generations"); err != nil {
		return fmt.Errorf("drop generations of %s: %w", projection, err)
	}
	items, err := b.scan(ctx, projection, func(it map[string]types.AttributeValue) bool {
		return getN(it, attrGen) != keep && (tenant == "" || getS(it, attrTenant) == string(tenant))
	})
	if err == nil {
		err = b.deleteItems(ctx, items)
	}
	if err != nil {
		return fmt.Errorf("drop generations of %s but %d: %w", projection, keep, err)
	}
	return nil
}

// DiscardGeneration implements projections.Backend.
func (b *Backend) DiscardGeneration(ctx context.Context, projection string, gen int64) error {
	if err := events.CheckUnscoped(ctx, "discarding a generation"); err != nil {
		return fmt.Errorf("discard generation %d of %s: %w", gen, projection, err)
	}
	items, err := b.scan(ctx, projection, func(it map[string]types.AttributeValue) bool { return getN(it, attrGen) == gen })
	if err == nil {
		err = b.deleteItems(ctx, items)
	}
	if err != nil {
		return fmt.Errorf("discard generation %d of %s: %w", gen, projection, err)
	}
	return nil
}

// Dump implements projections.Dumper.
func (b *Backend) Dump(ctx context.Context, projection string) ([]projections.DumpEntry, error) {
	if err := events.CheckUnscoped(ctx, "dump"); err != nil {
		return nil, fmt.Errorf("dump %s: %w", projection, err)
	}
	g, err := b.readGenState(ctx, projection)
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", projection, err)
	}
	items, err := b.scan(ctx, projection, func(it map[string]types.AttributeValue) bool {
		_, isRM := it[attrColl]
		return isRM && getN(it, attrGen) == g.active(events.TenantID(getS(it, attrTenant)))
	})
	if err != nil {
		return nil, fmt.Errorf("dump %s: %w", projection, err)
	}
	out := make([]projections.DumpEntry, 0, len(items))
	for _, it := range items {
		v, _ := it[attrValue].(*types.AttributeValueMemberB)
		if v == nil {
			continue
		}
		out = append(out, projections.DumpEntry{Tenant: events.TenantID(getS(it, attrTenant)), Collection: getS(it, attrColl),
			Key: getS(it, attrSK)[len(skKeyPrefix):], Value: v.Value})
	}
	projections.SortDump(out)
	return out, nil
}

// isConflict reports whether a cancelled transaction failed a condition or ran
// into another transaction on the same items.
func isConflict(err error) bool {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
				return true
			}
		}
	}
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
