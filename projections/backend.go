package projections

import (
	"context"
	"errors"
	"time"

	"github.com/tenantstream/tenantstream/events"
)

// Backend stores read models, per-stream checkpoints, parked events and
// generations. SQLite implements it locally (projections/sqlite) and MemoryBackend
// in tests. A DynamoDB backend fits the same shape: its BackendTx buffers the writes
// and commits them with the checkpoints in one TransactWriteItems conditioned on the
// checkpoint values it read.
type Backend interface {
	// Begin starts a read-write transaction. Transactions are serialized.
	Begin(ctx context.Context) (BackendTx, error)
	// Reader reads the active generation of each projection's read model.
	Reader
	// Parked lists the events parked by projection, oldest first.
	Parked(ctx context.Context, projection string) ([]ParkedEvent, error)
	// DropGenerations deletes the read-model data and checkpoints of projection
	// (of one tenant, or of all when tenant is empty) in every generation but keep.
	DropGenerations(ctx context.Context, projection string, tenant events.TenantID, keep int64) error
	// DiscardGeneration deletes all data of one generation (a failed rebuild).
	DiscardGeneration(ctx context.Context, projection string, gen int64) error
	Close() error
}

// BackendTx is one transaction of a Backend. Nothing is visible to Readers until Commit.
type BackendTx interface {
	// ReadModel is projection's read model in generation gen, inside this transaction.
	ReadModel(projection string, gen int64) Tx
	// ActiveGeneration is the generation that tenant's queries read (1 before any rebuild).
	ActiveGeneration(ctx context.Context, projection string, tenant events.TenantID) (int64, error)
	// NewGeneration allocates a generation number never used before by projection.
	NewGeneration(ctx context.Context, projection string) (int64, error)
	// SwitchGeneration makes gen active for tenant, or for all tenants when tenant is
	// empty (dropping per-tenant overrides), and clears the parked events it covers.
	SwitchGeneration(ctx context.Context, projection string, tenant events.TenantID, gen int64) error
	// Checkpoint is the last applied version of the stream (0 when none).
	Checkpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID) (int64, error)
	// SetCheckpoint records the last applied version of the stream.
	SetCheckpoint(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error
	// Park records an event whose Apply failed.
	Park(ctx context.Context, p ParkedEvent) error
	Commit() error
	// Rollback abandons the transaction; after Commit it does nothing.
	Rollback() error
}

// AppliedVersionReader is implemented by backends that report how far a
// projection has applied one stream in the generation queries read: the stream's
// checkpoint (0 when none), which commits with the read-model writes of the
// events it covers (decision 4). The ledgers audit reads it for a period's usage
// stream, so the ledgers projection needs no head item of its own written with
// every event (docs/cost.md).
type AppliedVersionReader interface {
	AppliedVersion(ctx context.Context, projection string, tenant events.TenantID, stream events.StreamID) (int64, error)
}

// GenerationFencer is implemented by backends whose live transactions may take
// the active generation from a state read in an earlier transaction instead of
// reading and checking it on every commit (projections/dynamodb). The fence is
// the contract that makes this safe (docs/ARCHITECTURE.md, "Generation fence"): a
// state read at wall time R serves only until R + GenerationFence and only events
// recorded by then (LiveBatch tells the transaction the newest), and a rebuild
// waits GenerationFence, on top of its store's settle window, after its switch
// before its last catch-up, so an event a stale state sent to the old generation
// was recorded early enough for that catch-up to apply it to the new one.
type GenerationFencer interface {
	GenerationFence() time.Duration
}

// LiveBatch is implemented by backend transactions that want to know, before
// ActiveGeneration is asked, the newest recorded_at of the live events they will
// apply (the batch's; gap fills load earlier versions of the same streams, which
// are never recorded later). Rebuilds do not call it: they name their generation.
type LiveBatch interface {
	ApplyingRecordedUntil(newest time.Time)
}

// ParkedEvent is an event a projection could not apply during live processing.
type ParkedEvent struct {
	Projection string
	EventID    string
	Tenant     events.TenantID
	Stream     events.StreamID
	Version    int64
	Type       string
	Reason     string
	ParkedAt   time.Time
}

// DumpEntry is one read-model value with its full key.
type DumpEntry struct {
	Tenant     events.TenantID
	Collection string
	Key        string
	Value      []byte
}

// Dumper is implemented by backends that can list a projection's whole active read
// model, sorted by tenant, collection and key; projectiontest compares dumps.
type Dumper interface {
	Dump(ctx context.Context, projection string) ([]DumpEntry, error)
}

// WriteCoalescer is implemented by backend transactions that accept a batch's
// read-model writes at the end of the batch rather than event by event, which
// lets the engine write a key many events touch only once.
type WriteCoalescer interface {
	CoalescesWrites() bool
}

// BatchPutter is implemented by read models (the Tx a BackendTx returns) that
// store many values in one call faster than one by one; the engine hands them a
// batch's coalesced writes at once.
type BatchPutter interface {
	PutMany(ctx context.Context, entries []DumpEntry) error
}

// EventSplitter is implemented by backend transactions that commit a batch in
// more than one write transaction (DynamoDB: at most 100 actions each). The
// engine reports each event once its writes are in the transaction, so the
// backend can cut a stream's writes at event boundaries, each piece committing
// with the checkpoint of its last event (docs/ARCHITECTURE.md, "Projections").
//
// EventDone returns an error wrapping ErrTooManyWrites when the event's writes
// can never commit (more of them must be atomic with its checkpoint than one
// transaction holds); it has then dropped those writes, and the engine parks the
// event instead of failing the batch, which would jam its stream for good.
type EventSplitter interface {
	EventDone(ctx context.Context, projection string, gen int64, tenant events.TenantID, stream events.StreamID, version int64) error
}

// ErrTooManyWrites: one event's writes cannot be committed by the backend (see
// EventSplitter). An event that fails with it is parked with the reason.
var ErrTooManyWrites = errors.New("projections: one event's writes exceed what the backend commits atomically")
