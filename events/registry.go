package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
)

// Upcaster turns the data of schema version From into version From+1.
// Stored events are never rewritten; upcasting happens on read.
type Upcaster struct {
	From int
	Up   func(data json.RawMessage) (json.RawMessage, error)
}

type registration struct {
	name      string
	version   int
	goType    reflect.Type
	upcasters map[int]Upcaster
}

// Registry maps stable event type names to Go types and their current schema version.
// Type names are never Go type names: renaming a Go type must not change stored data.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*registration
	byType map[reflect.Type]*registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*registration{}, byType: map[reflect.Type]*registration{}}
}

// Register maps name to the Go type of sample (a struct value) at the current schema
// version, with the upcasters that lift every older version to it. It panics on a
// duplicate name or type, or a missing upcaster, because that is a programming error.
func (r *Registry) Register(name string, version int, sample any, upcasters ...Upcaster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := reflect.TypeOf(sample)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, dup := r.byName[name]; dup {
		panic("events: type " + name + " registered twice")
	}
	if _, dup := r.byType[t]; dup {
		panic("events: Go type " + t.String() + " registered twice")
	}
	if version < 1 {
		panic("events: schema version must be >= 1 for " + name)
	}
	reg := &registration{name: name, version: version, goType: t, upcasters: map[int]Upcaster{}}
	for _, u := range upcasters {
		reg.upcasters[u.From] = u
	}
	for v := 1; v < version; v++ {
		if _, ok := reg.upcasters[v]; !ok {
			panic(fmt.Sprintf("events: %s has no upcaster from schema version %d", name, v))
		}
	}
	r.byName[name] = reg
	r.byType[t] = reg
}

// Types returns the registered type names.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	return out
}

// New encodes a payload as a NewEvent of its registered type and current version.
func (r *Registry) New(payload any) (NewEvent, error) {
	t := reflect.TypeOf(payload)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r.mu.RLock()
	reg, ok := r.byType[t]
	r.mu.RUnlock()
	if !ok {
		return NewEvent{}, fmt.Errorf("%w: Go type %v is not registered", ErrUnknownType, t)
	}
	if a, ok := payload.(JSONAppender); ok {
		return NewEvent{Type: reg.name, SchemaVersion: reg.version, Data: a.AppendJSON(nil)}, nil
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return NewEvent{}, fmt.Errorf("encode %s: %w", reg.name, err)
	}
	return NewEvent{Type: reg.name, SchemaVersion: reg.version, Data: data}, nil
}

// JSONAppender is implemented by payloads on hot write paths (an item put) that
// encode themselves without reflection. AppendJSON must append what json.Marshal
// writes for the payload (events/schema's golden test checks every registered
// type that implements it), except that raw JSON inside it may stay unescaped.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// Upcast returns ev with its data lifted to the registered schema version.
func (r *Registry) Upcast(ev Event) (Event, error) {
	r.mu.RLock()
	reg, ok := r.byName[ev.Type]
	r.mu.RUnlock()
	if !ok {
		return ev, fmt.Errorf("%w: %q", ErrUnknownType, ev.Type)
	}
	if ev.SchemaVersion > reg.version {
		return ev, fmt.Errorf("upcast %s: schema version %d is newer than this build's %d", ev.Type, ev.SchemaVersion, reg.version)
	}
	data := ev.Data
	for v := max(ev.SchemaVersion, 1); v < reg.version; v++ {
		var err error
		data, err = reg.upcasters[v].Up(data)
		if err != nil {
			return ev, fmt.Errorf("upcast %s from v%d: %w", ev.Type, v, err)
		}
	}
	ev.Data = data
	ev.SchemaVersion = reg.version
	return ev, nil
}

// Decode upcasts ev and unmarshals its data into a new value of the registered Go
// type, returned as a pointer.
func (r *Registry) Decode(ev Event) (any, error) {
	ev, err := r.Upcast(ev)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	reg := r.byName[ev.Type]
	r.mu.RUnlock()
	v := reflect.New(reg.goType)
	if err := json.Unmarshal(ev.Data, v.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", ev.Type, ev.SchemaVersion, err)
	}
	return v.Interface(), nil
}

// DecodeAs decodes ev into T, which must be the registered Go type of ev.Type.
func DecodeAs[T any](r *Registry, ev Event) (T, error) {
	var zero T
	v, err := r.Decode(ev)
	if err != nil {
		return zero, err
	}
	p, ok := v.(*T)
	if !ok {
		return zero, fmt.Errorf("decode %s: registered as %T, not %T", ev.Type, v, zero)
	}
	return *p, nil
}
