package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TypeCatalogPublished is the stable type name of the catalog.published event. Never rename.
const TypeCatalogPublished = "catalog.published"

// CatalogStreamType and CatalogStreamID name the platform stream that holds the
// price book: one catalog.published event per publication, its version the
// catalogue's version (docs/ARCHITECTURE.md, decision 14).
const (
	CatalogStreamType = "catalog"
	CatalogStreamID   = "catalog"
)

// ErrCatalogChange is a publication the price book refuses: another currency, a
// meter removed or aggregated differently. Invoices already issued would no
// longer mean what they say.
var ErrCatalogChange = errors.New("billing: catalogue change not allowed")

// PlanRef names one immutable version of a plan. Version 0 in data recorded
// before plans had versions means version 1.
type PlanRef struct {
	Plan    string `json:"plan"`
	Version int    `json:"version"`
}

func (r PlanRef) String() string { return fmt.Sprintf("%s v%d", r.Plan, r.Version) }

// EffectiveVersion is the plan version a recorded version stands for: data from
// before versions (0) means version 1.
func EffectiveVersion(v int) int { return max(v, 1) }

// CatalogPublished is the catalog.published event: the whole validated catalogue
// document, and the plan versions this publication created (only the plans whose
// definition changed since the previous publication; a plan absent from the
// catalogue keeps its versions for the tenants still on them).
type CatalogPublished struct {
	Catalog *Catalog  `json:"catalog"`
	Created []PlanRef `json:"created"`
	At      time.Time `json:"at"`
}

// UnmarshalJSON decodes the event and validates its catalogue as ParseCatalog
// does, so a published catalogue is usable (indexed) once read back.
func (p *CatalogPublished) UnmarshalJSON(b []byte) error {
	var w struct {
		Catalog json.RawMessage `json:"catalog"`
		Created []PlanRef       `json:"created"`
		At      time.Time       `json:"at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("decode catalog.published: %w", err)
	}
	cat, err := ParseCatalog(w.Catalog)
	if err != nil {
		return fmt.Errorf("decode catalog.published: %w", err)
	}
	*p = CatalogPublished{Catalog: cat, Created: w.Created, At: w.At}
	return nil
}

// Book is the price book: the fold of the catalogue stream. It holds every
// version of every plan ever published (versions are immutable) and the latest
// catalogue, whose plans are the ones new subscriptions may take. A Book is not
// changed once built: With returns a new one.
type Book struct {
	version int
	latest  *Catalog
	plans   map[string][]*Plan // plan id -> versions, index 0 is version 1
}

// Version is the number of publications folded (the catalogue stream's version).
func (b *Book) Version() int {
	if b == nil {
		return 0
	}
	return b.version
}

// Latest is the latest published catalogue; nil in an empty book.
func (b *Book) Latest() *Catalog {
	if b == nil {
		return nil
	}
	return b.latest
}

// LatestVersion is the newest version of a plan of the latest catalogue, the one
// new subscriptions take.
func (b *Book) LatestVersion(id string) (int, error) {
	if b.Latest() == nil {
		return 0, fmt.Errorf("plan %q: %w: no catalogue has been published", id, ErrUnknownPlan)
	}
	if _, err := b.latest.Plan(id); err != nil {
		return 0, err
	}
	return len(b.plans[id]), nil
}

// Versions is how many versions of a plan the book holds (0: never published).
func (b *Book) Versions(id string) int { return len(b.versions(id)) }

// PlanVersion implements Plans: version v of plan id (0: version 1), whether or
// not the latest catalogue still offers the plan.
func (b *Book) PlanVersion(id string, v int) (*Plan, error) {
	vs := b.versions(id)
	if len(vs) == 0 {
		return nil, fmt.Errorf("plan %q: %w", id, ErrUnknownPlan)
	}
	v = EffectiveVersion(v)
	if v > len(vs) {
		return nil, fmt.Errorf("plan %q version %d: %w (the book has %d)", id, v, ErrUnknownPlan, len(vs))
	}
	return vs[v-1], nil
}

// CurrencyCode implements Plans; a book's currency never changes.
func (b *Book) CurrencyCode() string { return b.Latest().Currency }

// MinorUnits implements Plans.
func (b *Book) MinorUnits() int32 { return b.Latest().MinorUnits() }

// With folds publications (in stream order, starting at version Version()+1)
// into a copy of the book.
func (b *Book) With(pubs ...*CatalogPublished) (*Book, error) {
	n := &Book{plans: map[string][]*Plan{}}
	if b != nil {
		n.version, n.latest = b.version, b.latest
		for id, vs := range b.plans {
			n.plans[id] = slices.Clone(vs)
		}
	}
	for _, p := range pubs {
		if p.Catalog == nil {
			return nil, fmt.Errorf("price book version %d: no catalogue", n.version+1)
		}
		for _, ref := range p.Created {
			pl, err := p.Catalog.Plan(ref.Plan)
			if err != nil {
				return nil, fmt.Errorf("price book version %d: created %s: %w", n.version+1, ref, err)
			}
			if ref.Version != len(n.plans[ref.Plan])+1 {
				return nil, fmt.Errorf("price book version %d: created %s, but the plan has %d versions", n.version+1, ref, len(n.plans[ref.Plan]))
			}
			n.plans[ref.Plan] = append(n.plans[ref.Plan], pl)
		}
		n.version++
		n.latest = p.Catalog
	}
	return n, nil
}

// Publish decides what publishing cat after the book changes: the publication to
// append, or nil when cat is the latest catalogue already (publishing is
// idempotent). A plan gets a new version only when its definition (its canonical
// JSON) differs from its latest version's. It refuses another currency, and a
// meter of the latest catalogue that cat removes or aggregates differently
// (meters may be added): rating an old plan version needs its meters as they were.
func (b *Book) Publish(cat *Catalog, at time.Time) (*CatalogPublished, error) {
	if cat == nil || cat.meters == nil {
		return nil, fmt.Errorf("publish catalogue: %w: not a validated catalogue", ErrInvalidCatalog)
	}
	if prev := b.Latest(); prev != nil {
		if cat.Currency != prev.Currency {
			return nil, fmt.Errorf("publish catalogue: %w: currency %s cannot become %s", ErrCatalogChange, prev.Currency, cat.Currency)
		}
		for _, m := range prev.AllMeters() {
			nm, ok := cat.Meter(m.ID)
			if !ok {
				return nil, fmt.Errorf("publish catalogue: %w: meter %q cannot be removed", ErrCatalogChange, m.ID)
			}
			if nm.Aggregation != m.Aggregation || nm.Property != m.Property {
				return nil, fmt.Errorf("publish catalogue: %w: meter %q aggregates by %s and cannot change to %s", ErrCatalogChange, m.ID, describeAgg(m), describeAgg(nm))
			}
		}
	}
	var created []PlanRef
	for i := range cat.Plans {
		pl := &cat.Plans[i]
		vs := b.versions(pl.ID)
		if len(vs) > 0 {
			same, err := samePlan(vs[len(vs)-1], pl)
			if err != nil {
				return nil, fmt.Errorf("publish catalogue: %w", err)
			}
			if same {
				continue
			}
		}
		created = append(created, PlanRef{Plan: pl.ID, Version: len(vs) + 1})
	}
	if len(created) == 0 && b.Latest() != nil {
		same, err := sameJSON(b.latest, cat)
		if err != nil {
			return nil, fmt.Errorf("publish catalogue: %w", err)
		}
		if same {
			return nil, nil
		}
		// Only the document changed (a meter added or renamed, a plan
		// withdrawn or reordered): a new catalogue version, no new plan version.
	}
	return &CatalogPublished{Catalog: cat, Created: created, At: at.UTC()}, nil
}

func (b *Book) versions(id string) []*Plan {
	if b == nil {
		return nil
	}
	return b.plans[id]
}

func describeAgg(m Meter) string {
	if m.Property != "" {
		return string(m.Aggregation) + " of " + m.Property
	}
	return string(m.Aggregation)
}

// samePlan compares two plan definitions by their canonical JSON (decimals in
// their shortest form, so "49.00" and "49" are one price).
func samePlan(a, b *Plan) (bool, error) { return sameJSON(a, b) }

func sameJSON(a, b any) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ja, jb), nil
}

// Plans resolves the plan version a segment names, for rating. A Catalog holds
// version 1 of each of its plans; a Book holds every published version.
type Plans interface {
	PlanVersion(id string, version int) (*Plan, error)
	CurrencyCode() string
	MinorUnits() int32
}

// PlanVersion implements Plans: a catalogue on its own is version 1 of each of
// its plans (version 0 in old data means 1); any other version is unknown.
func (c *Catalog) PlanVersion(id string, v int) (*Plan, error) {
	if EffectiveVersion(v) != 1 {
		return nil, fmt.Errorf("plan %q version %d: %w: a catalogue holds version 1 only; rate with the price book", id, v, ErrUnknownPlan)
	}
	return c.Plan(id)
}

// CurrencyCode implements Plans.
func (c *Catalog) CurrencyCode() string { return c.Currency }
