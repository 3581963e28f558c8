package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/projections"
)

type cpKey struct {
	projection string
	gen        int64
	tenant     events.TenantID
	stream     events.StreamID
}

func (k cpKey) item() itemKey { return itemKey{cpPK(k.projection, k.gen, k.tenant), string(k.stream)} }

// cpRead is the checkpoint value a transaction read: its commit is conditioned on it.
type cpRead struct {
	version int64
	exists  bool
}

// write is one buffered read-model write.
type write struct {
	projection, collection string
	gen                    int64
	tenant                 events.TenantID
	value                  []byte
	del                    bool
}

// segment is the part of a transaction that must commit atomically: normally
// one stream's writes, parked events and checkpoint. The engine reads a
// stream's checkpoint before applying its events and sets it after, so a
// Checkpoint call opens a new segment.
type segment struct {
	projection string // the projection whose generation state guards it; "" for none
	cp         *cpKey
	writes     map[itemKey]write
	setCP      *int64
	parks      []projections.ParkedEvent
	// state is a generation state to write (SwitchGeneration); deletes are
	// parked events to remove.
	state   *genState
	deletes []itemKey
}

type tx struct {
	b      *Backend
	done   bool
	segs   []*segment
	cps    map[cpKey]cpRead
	states map[string]*genState // as read, for conditions
	next   map[string]*genState // as switched in this transaction
	// reads are the read-model values Get read from the table (nil: absent). A
	// write of one is conditioned on it being unchanged, so two projectors that
	// read-modify-write one key (a tenant's totals) cannot lose a delta: the
	// later commit fails with ErrConflict and the engine applies its batch again.
	reads map[itemKey]*[]byte
	// newest is the newest recorded_at of the live batch (LiveBatch; zero in a
	// rebuild or when not told); fenced are the generation states taken under
	// the fence for it, which the commit does not check.
	newest time.Time
	fenced map[string]*genState
}

func newTx(b *Backend) *tx {
	return &tx{b: b, cps: map[cpKey]cpRead{}, states: map[string]*genState{}, next: map[string]*genState{},
		reads: map[itemKey]*[]byte{}, fenced: map[string]*genState{}}
}

// ApplyingRecordedUntil implements projections.LiveBatch.
func (t *tx) ApplyingRecordedUntil(newest time.Time) { t.newest = newest }

// fencedState returns projection's generation state for a live batch under
// the fence, reusing the Backend's last read while it covers the batch, else
// reading it again; ok is false when even a fresh read does not cover the
// batch (an appender's clock far ahead of ours), and the commit must check the
// state as before.
func (t *tx) fencedState(ctx context.Context, projection string) (g *genState, ok bool, err error) {
	if t.b.fence <= 0 || t.newest.IsZero() {
		return nil, false, nil
	}
	if g, ok := t.fenced[projection]; ok {
		return g, true, nil
	}
	t.b.liveMu.Lock()
	f := t.b.liveGens[projection]
	t.b.liveMu.Unlock()
	if !f.covers(t.newest, time.Now(), t.b.fence) {
		readAt := time.Now() // before the read: the state read is at least this recent
		g, err := t.b.readGenState(ctx, projection)
		if err != nil {
			return nil, false, err
		}
		f = fencedGen{g: g, readAt: readAt}
		t.b.liveMu.Lock()
		if cur := t.b.liveGens[projection]; cur.readAt.Before(readAt) {
			t.b.liveGens[projection] = f
		}
		t.b.liveMu.Unlock()
		if !f.covers(t.newest, time.Now(), t.b.fence) {
			t.states[projection] = g
			return nil, false, nil
		}
	}
	t.fenced[projection] = f.g
	return f.g, true, nil
}

// forgetFenced drops the cached states this transaction used, after a failed
// commit: the next try reads them again, whatever the cause was.
func (t *tx) forgetFenced() {
	if len(t.fenced) == 0 {
		return
	}
	t.b.liveMu.Lock()
	defer t.b.liveMu.Unlock()
	for p := range t.fenced {
		delete(t.b.liveGens, p)
	}
}

func (t *tx) check() error {
	if t.done {
		return projections.ErrTxDone
	}
	return nil
}

// cur returns the segment receiving writes, opening a free one if none is open.
func (t *tx) cur() *segment {
	if len(t.segs) == 0 {
		return t.open("", nil)
	}
	return t.segs[len(t.segs)-1]
}

func (t *tx) open(projection string, cp *cpKey) *segment {
	s := &segment{projection: projection, cp: cp, writes: map[itemKey]write{}}
	t.segs = append(t.segs, s)
	return s
}

func (t *tx) ReadModel(projection string, gen int64) projections.Tx {
	return &rmTx{t: t, projection: projection, gen: gen}
}

func (t *tx) state(ctx context.Context, projection string) (*genState, error) {
	if g, ok := t.next[projection]; ok {
		return g, nil
	}
	if g, ok := t.states[projection]; ok {
		return g, nil
	}
	g, err := t.b.readGenState(ctx, projection)
	if err != nil {
		return nil, err
	}
	t.states[projection] = g
	return g, nil
}

func (t *tx) ActiveGeneration(ctx context.Context, projection string, tenant events.TenantID) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	_, switching := t.next[projection]
	_, read := t.states[projection]
	if !switching && !read {
		g, ok, err := t.fencedState(ctx, projection)
		if err != nil {
			return 0, err
		}
		if ok {
			return g.active(tenant), nil
		}
	}
	g, err := t.state(ctx, projection)
	if err != nil {
		return 0, err
	}
	return g.active(tenant), nil
}

// NewGeneration increments the projection's counter at once, outside the
// transaction: a number burnt by a rollback is never reused, which is all the
// contract asks, and the counter never becomes a transaction conflict.
func (t *tx) NewGeneration(ctx context.Context, projection string) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	out, err := t.b.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(t.b.table),
		Key:                       key(projPK(projection), skNextGen),
		UpdateExpression:          aws.String("ADD #n :one"),
		ExpressionAttributeNames:  map[string]string{"#n": attrNext},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("new generation of %s: %w", projection, err)
	}
	// Generation 1 is the one used before any rebuild.
	return getN(out.Attributes, attrNext) + 1, nil
}

func (t *tx) SwitchGeneration(ctx context.Context, projection string, tenant events.TenantID, gen int64) error {
	if err := t.check(); err != nil {
		return err
	}
	g, err := t.state(ctx, projection)
	if err != nil {
		return fmt.Errorf("switch %s to generation %d: %w", projection, gen, err)
	}
	ng := &genState{exists: true, def: g.def, rev: g.rev + 1, tenants: map[string]int64{}}
	if tenant == "" {
		ng.def = gen
	} else {
		for k, v := range g.tenants {
			ng.tenants[k] = v
		}
		ng.tenants[string(tenant)] = gen
	}
	if _, read := t.states[projection]; !read {
		t.states[projection] = g
	}
	t.next[projection] = ng
	s := t.open("", nil)
	s.state = ng
	s.projection = projection
	parked, err := t.b.parkedItems(ctx, projection)
	if err != nil {
		return fmt.Errorf("switch %s to generation %d: %w", projection, gen, err)
	}
	// Parked events are cleared after the switch, in their own transactions: a
	// leftover one is stale information, not wrong data.
	for _, it := range parked {
		if tenant == "" || getS(it, attrTenant) == string(tenant) {
			t.open("", nil).deletes = []itemKey{{getS(it, attrPK), getS(it, attrSK)}}
		}
	}
	return nil
}

func (t *tx) readCheckpoint(ctx context.Context, k cpKey) (cpRead, error) {
	if r, ok := t.cps[k]; ok {
		return r, nil
	}
	ik := k.item()
	item, err := t.b.getItem(ctx, t.b.client, ik.pk, ik.sk)
	if err != nil {
		return cpRead{}, fmt.Errorf("checkpoint %s/%s/%s: %w", k.projection, k.tenant, k.stream, err)
	}
	r := cpRead{exists: item != nil, version: getN(item, attrVersion)}
	t.cps[k] = r
	return r, nil
}

func (t *tx) Checkpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	k := cpKey{projection, gen, tenant, stream}
	r, err := t.readCheckpoint(ctx, k)
	if err != nil {
		return 0, err
	}
	v := r.version
	for _, s := range t.segs {
		if s.cp != nil && *s.cp == k && s.setCP != nil {
			v = *s.setCP
		}
	}
	t.open(projection, &k)
	return v, nil
}

func (t *tx) SetCheckpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error {
	if err := t.check(); err != nil {
		return err
	}
	k := cpKey{projection, gen, tenant, stream}
	if _, err := t.readCheckpoint(ctx, k); err != nil {
		return err
	}
	s := t.cur()
	if s.cp == nil || *s.cp != k {
		s = t.open(projection, &k)
	}
	s.setCP = &version
	return nil
}

func (t *tx) Park(_ context.Context, p projections.ParkedEvent) error {
	if err := t.check(); err != nil {
		return err
	}
	s := t.cur()
	s.parks = append(s.parks, p)
	return nil
}

func (t *tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.b.mu.Unlock()
	return nil
}

// lookup returns the newest buffered write of an item.
func (t *tx) lookup(k itemKey) (write, bool) {
	for i := len(t.segs) - 1; i >= 0; i-- {
		if w, ok := t.segs[i].writes[k]; ok {
			return w, true
		}
	}
	return write{}, false
}

type rmTx struct {
	t          *tx
	projection string
	gen        int64
}

func (r *rmTx) key(tenant events.TenantID, collection, k string) itemKey {
	return itemKey{rmPK(r.projection, r.gen, tenant, collection), rmSK(k)}
}

func (r *rmTx) Get(ctx context.Context, tenant events.TenantID, collection, k string) ([]byte, error) {
	if err := r.t.check(); err != nil {
		return nil, err
	}
	ik := r.key(tenant, collection, k)
	if w, ok := r.t.lookup(ik); ok {
		if w.del {
			return nil, fmt.Errorf("get %s/%s: %w", collection, k, projections.ErrNotFound)
		}
		return slices.Clone(w.value), nil
	}
	v, err := r.t.b.getValue(ctx, r.t.b.client, ik.pk, k)
	if _, seen := r.t.reads[ik]; !seen {
		switch {
		case err == nil:
			c := slices.Clone(v)
			r.t.reads[ik] = &c
		case errors.Is(err, projections.ErrNotFound):
			r.t.reads[ik] = nil
		}
	}
	return v, err
}

func (r *rmTx) set(tenant events.TenantID, collection, k string, value []byte, del bool) error {
	if err := r.t.check(); err != nil {
		return err
	}
	r.t.cur().writes[r.key(tenant, collection, k)] = write{
		projection: r.projection, gen: r.gen, tenant: tenant, collection: collection, value: slices.Clone(value), del: del,
	}
	return nil
}

func (r *rmTx) Put(_ context.Context, tenant events.TenantID, collection, k string, value []byte) error {
	return r.set(tenant, collection, k, value, false)
}

func (r *rmTx) Delete(_ context.Context, tenant events.TenantID, collection, k string) error {
	return r.set(tenant, collection, k, nil, true)
}

// List merges the buffered writes with the table. Reading limit plus the
// number of buffered deletes from the table is enough: every deleted key can
// hide at most one stored entry.
func (r *rmTx) List(ctx context.Context, tenant events.TenantID, collection, after string, limit int) ([]projections.Entry, error) {
	if err := r.t.check(); err != nil {
		return nil, err
	}
	limit = normLimit(limit)
	pk := rmPK(r.projection, r.gen, tenant, collection)
	buffered := map[string]write{}
	for _, s := range r.t.segs {
		for ik, w := range s.writes {
			if ik.pk == pk && ik.sk > rmSK(after) {
				buffered[ik.sk[len(skKeyPrefix):]] = w
			}
		}
	}
	dels := 0
	for _, w := range buffered {
		if w.del {
			dels++
		}
	}
	stored, err := r.t.b.query(ctx, r.t.b.client, pk, after, limit+dels)
	if err != nil {
		return nil, err
	}
	var out []projections.Entry
	for _, e := range stored {
		if _, ok := buffered[e.Key]; !ok {
			out = append(out, e)
		}
	}
	for k, w := range buffered {
		if !w.del {
			out = append(out, projections.Entry{Key: k, Value: slices.Clone(w.value)})
		}
	}
	slices.SortFunc(out, func(a, b projections.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out[:min(limit, len(out))], nil
}

// op is one action on one item in a TransactWriteItems. Merging ops on the same
// item (DynamoDB allows one action per item) keeps the first condition, which
// guards the value read at the start, and the last action.
type op struct {
	put   map[string]types.AttributeValue
	del   bool
	cond  string
	vals  map[string]types.AttributeValue
	check bool // only a condition check
}

type chunk struct {
	keys []itemKey
	ops  map[itemKey]*op
}

func (c *chunk) add(k itemKey, o op) {
	old, ok := c.ops[k]
	if !ok {
		c.keys = append(c.keys, k)
		c.ops[k] = &o
		return
	}
	if o.check {
		return // an earlier action already carries a condition or is unconditional
	}
	if old.cond != "" {
		o.cond, o.vals = old.cond, old.vals
	}
	*old = o
}

func (c *chunk) items(table string) []types.TransactWriteItem {
	out := make([]types.TransactWriteItem, 0, len(c.keys))
	for _, k := range c.keys {
		o := c.ops[k]
		var cond *string
		if o.cond != "" {
			cond = aws.String(o.cond)
		}
		vals := o.vals
		switch {
		case o.check:
			out = append(out, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String(table),
				Key: key(k.pk, k.sk), ConditionExpression: cond, ExpressionAttributeValues: vals}})
		case o.del:
			out = append(out, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table),
				Key: key(k.pk, k.sk), ConditionExpression: cond, ExpressionAttributeValues: vals}})
		default:
			out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table),
				Item: o.put, ConditionExpression: cond, ExpressionAttributeValues: vals}})
		}
	}
	return out
}

// expectation is what a transaction expects an item it read to hold when its
// write of the item commits: attribute attr equal to val, or no item (val nil).
type expectation struct {
	attr string
	val  types.AttributeValue
}

func (e expectation) condition() (string, map[string]types.AttributeValue) {
	if e.val == nil {
		return "attribute_not_exists(" + attrPK + ")", nil
	}
	return e.attr + " = :e", map[string]types.AttributeValue{":e": e.val}
}

// after is the expectation once put (nil: a delete) has committed.
func (e expectation) after(put map[string]types.AttributeValue) expectation {
	if put == nil {
		return expectation{attr: e.attr}
	}
	return expectation{attr: e.attr, val: put[e.attr]}
}

// expectations are the conditions of the items the transaction read: the
// checkpoints, the generation states and the read-model values read from the
// table. Commit moves them along as it packs segments, so a later transaction of
// the same commit expects what an earlier one wrote.
func (t *tx) expectations() map[itemKey]expectation {
	ex := map[itemKey]expectation{}
	for k, r := range t.cps {
		e := expectation{attr: attrVersion}
		if r.exists {
			e.val = num(r.version)
		}
		ex[k.item()] = e
	}
	for p, g := range t.states {
		e := expectation{attr: attrRev}
		if g.exists {
			e.val = num(g.rev)
		}
		ex[itemKey{projPK(p), skGenState}] = e
	}
	for k, v := range t.reads {
		e := expectation{attr: attrValue}
		if v != nil {
			e.val = &types.AttributeValueMemberB{Value: *v}
		}
		ex[k] = e
	}
	return ex
}

// action is one op on one item.
type action struct {
	k itemKey
	o op
}

// segOps are a segment's actions. bound must commit in one transaction with the
// checkpoint (writes of values read, parked events, the checkpoint and the
// generation check); free are writes of values the transaction never read,
// which a redelivery writes again the same, so they may commit before it;
// guard is the checkpoint's condition alone, carried by those earlier parts.
type segOps struct {
	bound, free []action
	guard       *action
}

func (s segOps) len() int { return len(s.bound) + len(s.free) }

// ops lists a segment's actions with the conditions ex holds, then moves ex past
// them.
func (t *tx) ops(s *segment, ex map[itemKey]expectation) segOps {
	var out segOps
	wkeys := make([]itemKey, 0, len(s.writes))
	for k := range s.writes {
		wkeys = append(wkeys, k)
	}
	slices.SortFunc(wkeys, func(a, b itemKey) int { return strings.Compare(a.pk+"\x00"+a.sk, b.pk+"\x00"+b.sk) })
	var moved []action
	for _, k := range wkeys {
		w := s.writes[k]
		o := op{del: w.del}
		if !w.del {
			item := key(k.pk, k.sk)
			item[attrValue] = &types.AttributeValueMemberB{Value: w.value}
			item[attrProj], item[attrGen], item[attrTenant], item[attrColl] = str(w.projection), num(w.gen), str(string(w.tenant)), str(w.collection)
			o.put = item
		}
		e, read := ex[k]
		if !read {
			out.free = append(out.free, action{k, o})
			continue
		}
		o.cond, o.vals = e.condition()
		out.bound = append(out.bound, action{k, o})
		moved = append(moved, action{k, o})
	}
	for _, p := range s.parks {
		item := parkedItem(p)
		out.bound = append(out.bound, action{itemKey{getS(item, attrPK), getS(item, attrSK)}, op{put: item}})
	}
	if s.cp != nil && (s.setCP != nil || out.len() > 0) {
		ck := s.cp.item()
		cond, vals := ex[ck].condition()
		out.guard = &action{ck, op{check: true, cond: cond, vals: vals}}
		if s.setCP != nil {
			item := key(ck.pk, ck.sk)
			item[attrVersion], item[attrProj], item[attrGen] = num(*s.setCP), str(s.cp.projection), num(s.cp.gen)
			item[attrTenant], item[attrStream] = str(string(s.cp.tenant)), str(string(s.cp.stream))
			a := action{ck, op{put: item, cond: cond, vals: vals}}
			out.bound = append(out.bound, a)
			moved = append(moved, a)
		} else {
			out.bound = append(out.bound, *out.guard)
		}
	}
	for _, k := range s.deletes {
		out.free = append(out.free, action{k, op{del: true}})
	}
	sk := itemKey{projPK(s.projection), skGenState}
	if s.state != nil {
		cond, vals := ex[sk].condition()
		a := action{sk, op{put: s.state.item(s.projection), cond: cond, vals: vals}}
		out.bound = append(out.bound, a)
		moved = append(moved, a)
	} else if _, ok := t.states[s.projection]; ok && out.len() > 0 {
		// The engine picked the generation from this state: if a rebuild switched
		// it meanwhile, fail and let the redelivery write to the new generation.
		cond, vals := ex[sk].condition()
		out.bound = append(out.bound, action{sk, op{check: true, cond: cond, vals: vals}})
	}
	for _, a := range moved {
		if a.o.del {
			ex[a.k] = ex[a.k].after(nil)
		} else {
			ex[a.k] = ex[a.k].after(a.o.put)
		}
	}
	return out
}

// boundCount is how many actions of segment s must commit with its checkpoint.
func (t *tx) boundCount(s *segment) int {
	n := len(s.parks) + 1 // the checkpoint
	if _, ok := t.states[s.projection]; ok {
		n++
	}
	for k := range s.writes {
		if _, read := t.reads[k]; read {
			n++
		}
	}
	return n
}

// EventDone implements projections.EventSplitter: the event's writes close the
// stream's current segment with the event's version as its checkpoint, so a
// commit can cut between events, each transaction atomic with the checkpoint of
// its last event. An event whose bound actions alone exceed a transaction loses
// its writes here, so the engine parks it rather than fail every commit.
func (t *tx) EventDone(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error {
	if err := t.check(); err != nil {
		return err
	}
	k := cpKey{projection, gen, tenant, stream}
	if _, err := t.readCheckpoint(ctx, k); err != nil {
		return err
	}
	s := t.cur()
	if s.cp == nil || *s.cp != k {
		s = t.open(projection, &k)
	}
	if n := t.boundCount(s); n > t.b.maxItems {
		clear(s.writes)
		return fmt.Errorf("%d actions must commit with the checkpoint (writes of values read, parked events, checks), more than the %d of one transaction: %w",
			n, t.b.maxItems, projections.ErrTooManyWrites)
	}
	s.setCP = &version
	t.open(projection, &k)
	return nil
}

// Commit writes the segments in order, packing as many whole segments into each
// TransactWriteItems as fit. A segment larger than one transaction (one event
// that writes a hundred distinct keys) commits its free writes first, in
// transactions guarded by the checkpoint it read, and the rest with the
// checkpoint last: until that last one commits the checkpoint has not moved, and
// a redelivery writes the same free values again (docs/ARCHITECTURE.md,
// "Projections"). Each transaction carries a ClientRequestToken, so the SDK's
// retry of a transaction that did commit is not mistaken for a conflict.
func (t *tx) Commit() (err error) {
	if err := t.check(); err != nil {
		return err
	}
	defer func() { _ = t.Rollback() }()
	maxItems := t.b.maxItems
	var chunks []*chunk
	c := &chunk{ops: map[itemKey]*op{}}
	next := func() {
		if len(c.keys) > 0 {
			chunks, c = append(chunks, c), &chunk{ops: map[itemKey]*op{}}
		}
	}
	ex := t.expectations()
	for _, s := range t.segs {
		so := t.ops(s, ex)
		all := append(slices.Clip(so.free), so.bound...)
		if len(all) == 0 {
			continue
		}
		if len(all) <= maxItems {
			if distinct(c, all) > maxItems {
				next()
			}
			for _, a := range all {
				c.add(a.k, a.o)
			}
			continue
		}
		if len(so.bound) > maxItems {
			return fmt.Errorf("commit: %d actions for %s: %w", len(so.bound), describe(s), ErrTooManyWrites)
		}
		next()
		free := so.free
		if room := maxItems - len(so.bound); room < len(free) {
			early := free[:len(free)-room]
			free = free[len(free)-room:]
			per := maxItems
			if so.guard != nil {
				per--
			}
			for len(early) > 0 {
				n := min(per, len(early))
				if so.guard != nil {
					c.add(so.guard.k, so.guard.o)
				}
				for _, a := range early[:n] {
					c.add(a.k, a.o)
				}
				early = early[n:]
				next()
			}
		}
		for _, a := range append(slices.Clip(free), so.bound...) {
			c.add(a.k, a.o)
		}
	}
	next()
	ctx := context.Background()
	for i, c := range chunks {
		_, err := t.b.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{
			TransactItems:      c.items(t.b.table),
			ClientRequestToken: aws.String(uuid.NewString()),
		})
		if err == nil {
			continue
		}
		t.forgetFenced()
		if isConflict(err) {
			err = fmt.Errorf("%w: %w", ErrConflict, err)
		}
		if i > 0 {
			return fmt.Errorf("commit transaction %d of %d (the first %d committed; their streams' checkpoints make a redelivery skip them): %w", i+1, len(chunks), i, err)
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func distinct(c *chunk, acts []action) int {
	n := len(c.keys)
	seen := map[itemKey]bool{}
	for _, a := range acts {
		if _, ok := c.ops[a.k]; !ok && !seen[a.k] {
			seen[a.k] = true
			n++
		}
	}
	return n
}

func describe(s *segment) string {
	if s.cp == nil {
		return "writes outside any stream"
	}
	return fmt.Sprintf("%s %s/%s", s.cp.projection, s.cp.tenant, s.cp.stream)
}
