package projections

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry is the one list of projections that the engine, the CLI and the infra
// app derive everything from.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]Projection
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]Projection{}} }

// Register adds p. It panics on an empty or duplicate name or an empty Handles list,
// because that is a programming error found at start-up.
func (r *Registry) Register(p Projection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := p.Name()
	if name == "" || strings.ContainsAny(name, " #/") {
		panic(fmt.Sprintf("projections: invalid projection name %q", name))
	}
	if _, dup := r.byName[name]; dup {
		panic("projections: projection " + name + " registered twice")
	}
	if len(p.Handles()) == 0 {
		panic("projections: projection " + name + " handles no event types")
	}
	r.byName[name] = p
}

// Registered returns the projections sorted by name.
func (r *Registry) Registered() []Projection {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Projection, 0, len(r.byName))
	for _, p := range r.byName {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Projection) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// Lookup returns the projection called name.
func (r *Registry) Lookup(name string) (Projection, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.byName[name]
	return p, ok
}

var defaultRegistry = NewRegistry()

// Register adds p to the default registry; call it from an init function.
func Register(p Projection) { defaultRegistry.Register(p) }

// Registered returns the default registry's projections sorted by name.
func Registered() []Projection { return defaultRegistry.Registered() }

// Lookup finds a projection of the default registry by name.
func Lookup(name string) (Projection, bool) { return defaultRegistry.Lookup(name) }
