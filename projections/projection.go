package projections

import (
	"context"
	"errors"

	"github.com/tenantstream/tenantstream/events"
)

// Projection builds a read model from events. Adding one is writing one file that
// implements this interface and calling Register in an init function.
//
// A projection must not depend on the interleaving of different streams
// (docs/ARCHITECTURE.md, decision 4): projectiontest checks this by shuffled, duplicated delivery.
type Projection interface {
	// Name is stable and unique, such as "items"; it keys checkpoints and read models.
	Name() string
	// Handles lists the event types the projection applies. Others are never delivered.
	Handles() []string
	// Apply applies one event. Writes go through tx, which the engine commits together
	// with the checkpoint. An error parks the event during live processing and fails
	// a rebuild; one wrapping events.ErrUnavailable (the backend out of space or
	// throttled) fails the batch instead, so it is delivered again later.
	Apply(ctx context.Context, tx Tx, ev events.Event) error
}

// Tx is a projection's view of its read model inside one transaction. Every key is
// scoped by the tenant passed in; collections are the projection's own namespaces.
type Tx interface {
	// Get returns the value at key, or ErrNotFound.
	Get(ctx context.Context, tenant events.TenantID, collection, key string) ([]byte, error)
	// Put stores value (normally JSON) at key.
	Put(ctx context.Context, tenant events.TenantID, collection, key string, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, tenant events.TenantID, collection, key string) error
	// List returns up to limit entries whose key is > after, in key order.
	List(ctx context.Context, tenant events.TenantID, collection, after string, limit int) ([]Entry, error)
}

// Entry is one key and value of a read-model collection.
type Entry struct {
	Key   string
	Value []byte
}

// ErrNotFound is returned by Tx.Get and Reader.Get for a missing key.
var ErrNotFound = errors.New("projections: not found")

// Reader answers queries from the active generation of a projection's read model.
type Reader interface {
	Get(ctx context.Context, projection string, tenant events.TenantID, collection, key string) ([]byte, error)
	List(ctx context.Context, projection string, tenant events.TenantID, collection, after string, limit int) ([]Entry, error)
}

// PlatformTenant scopes platform-wide read-model data (for example the list of
// tenants the billing scheduler walks). Real tenant ids are generated UUIDs, so
// they never collide with it.
const PlatformTenant events.TenantID = "_platform"
