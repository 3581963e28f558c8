package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/projections"
)

// The price book (docs/ARCHITECTURE.md, decision 14): catalogues are published
// as catalog.published events on the platform stream "catalog", one version per
// publication, and every plan version stays rateable forever. Tenants subscribe
// to a plan version; the billing summary, the close, late usage and the audit
// rate each segment with its version read from the book, never from a file.

// PublishResult says what publishing a catalogue did.
type PublishResult struct {
	// Version is the catalogue version now latest in the book (the catalogue
	// stream's version); unchanged when nothing was published.
	Version int `json:"version"`
	// Created are the plan versions the publication created (plans whose
	// definition changed, or new plans).
	Created []billing.PlanRef `json:"created"`
	// Changed is false when the catalogue was the latest already.
	Changed bool `json:"changed"`
}

// CatalogVersion is one publication of the catalogue history.
type CatalogVersion struct {
	Version     int               `json:"version"`
	PublishedAt time.Time         `json:"published_at"`
	Created     []billing.PlanRef `json:"created"`
	Catalog     *billing.Catalog  `json:"catalog"`
}

// errNoCatalog answers a command that needs plans before any catalogue was published.
var errNoCatalog = domain.Errorf(domain.CodeUnavailable, "no plan catalogue has been published")

// maxPublishAttempts bounds the retries of a publication that lost the race for
// the next version to another publisher.
const maxPublishAttempts = 10

// PublishCatalog publishes a validated catalogue to the price book: appended at
// the exact next version of the catalogue stream, so of two racing publishers
// one wins and the other re-decides against the winner's catalogue (publishing
// the same catalogue twice creates nothing). Plans get a new version only when
// their definition changed; a change of currency or of a meter's aggregation,
// or a meter's removal, is refused with CodeUnprocessable. Platform work: the
// operator CLI and the server's start call it (docs/billing.md, "Plan versions").
func (s *Service) PublishCatalog(ctx context.Context, cat *billing.Catalog) (PublishResult, error) {
	ctx = events.WithoutTenantScope(ctx)
	for attempt := 0; ; attempt++ {
		book, err := s.readBook(ctx)
		if err != nil {
			return PublishResult{}, err
		}
		pub, err := book.Publish(cat, s.Clock.Now())
		if errors.Is(err, billing.ErrCatalogChange) || errors.Is(err, billing.ErrInvalidCatalog) {
			return PublishResult{}, &domain.Error{Code: domain.CodeUnprocessable, Field: "catalog", Message: err.Error(), Err: err}
		}
		if err != nil {
			return PublishResult{}, err
		}
		if pub == nil {
			return PublishResult{Version: book.Version(), Created: []billing.PlanRef{}, Changed: false}, nil
		}
		expected := events.NoStream
		if book.Version() > 0 {
			expected = events.Exactly(int64(book.Version()))
		}
		res, err := s.Store.Append(ctx, events.AppendRequest{
			Tenant: projections.PlatformTenant, Stream: billing.CatalogStreamID, StreamType: billing.CatalogStreamType,
			Expected: expected, Actor: "operator", Events: []events.NewEvent{newEvent(pub)},
		})
		if errors.Is(err, events.ErrConcurrency) && attempt+1 < maxPublishAttempts {
			continue // another publisher took the version: decide again against its catalogue
		}
		if err != nil {
			return PublishResult{}, storeError("publish catalogue", err)
		}
		s.logger().InfoContext(ctx, "catalogue published", "version", res.LastVersion(), "created", fmt.Sprint(pub.Created))
		if _, err := s.readBook(ctx); err != nil {
			return PublishResult{}, err
		}
		created := pub.Created
		if created == nil {
			created = []billing.PlanRef{}
		}
		return PublishResult{Version: int(res.LastVersion()), Created: created, Changed: true}, nil
	}
}

// CatalogHistory lists every publication of the price book, oldest first.
func (s *Service) CatalogHistory(ctx context.Context) ([]CatalogVersion, error) {
	evs, err := s.Store.Load(events.WithoutTenantScope(ctx), projections.PlatformTenant, billing.CatalogStreamID, 1)
	if errors.Is(err, events.ErrNotFound) {
		return []CatalogVersion{}, nil
	}
	if err != nil {
		return nil, storeError("load catalogue history", err)
	}
	out := make([]CatalogVersion, 0, len(evs))
	for _, ev := range evs {
		pub, err := events.DecodeAs[billing.CatalogPublished](schema.Registry, ev)
		if err != nil {
			return nil, storeError("decode catalogue", err)
		}
		out = append(out, CatalogVersion{Version: int(ev.Version), PublishedAt: pub.At, Created: pub.Created, Catalog: pub.Catalog})
	}
	return out, nil
}

// PriceBook returns the price book, current with the store. When nothing was
// ever published, it first publishes the Service's configured catalogue
// (Service.Plans, when it is a Catalog), so a server started before the CLI
// publishes anything keeps working; without one it is CodeUnavailable.
func (s *Service) PriceBook(ctx context.Context) (*billing.Book, error) {
	return s.priceBook(ctx, nil)
}

// priceBook is PriceBook with another catalogue to publish into an empty book
// when the Service has none configured.
func (s *Service) priceBook(ctx context.Context, fallback *billing.Catalog) (*billing.Book, error) {
	book, err := s.readBook(ctx)
	if err != nil || book.Version() > 0 {
		return book, err
	}
	cat := fallback
	if c, ok := s.Plans.(Catalog); ok && c.Catalog != nil {
		cat = c.Catalog
	}
	if cat == nil {
		return nil, errNoCatalog
	}
	if _, err := s.PublishCatalog(ctx, cat); err != nil {
		return nil, fmt.Errorf("publish the configured catalogue: %w", err)
	}
	return s.readBook(ctx)
}

// readBook brings the cached book up to the store's head and returns it (an
// empty book when nothing was published). It reads only the catalogue events
// after the cached version: a query that finds nothing on every use, so a new
// publication is seen by the next command of every instance (many Lambda
// instances each keep their own cache) without re-reading the whole history.
func (s *Service) readBook(ctx context.Context) (*billing.Book, error) {
	s.bookMu.Lock()
	cur := s.book
	s.bookMu.Unlock()
	evs, err := s.Store.Load(events.WithoutTenantScope(ctx), projections.PlatformTenant, billing.CatalogStreamID, int64(cur.Version())+1)
	if errors.Is(err, events.ErrNotFound) || (err == nil && len(evs) == 0) {
		return cur, nil
	}
	if err != nil {
		return nil, storeError("load price book", err)
	}
	pubs := make([]*billing.CatalogPublished, 0, len(evs))
	for i, ev := range evs {
		if ev.Version != int64(cur.Version()+i+1) {
			return nil, fmt.Errorf("load price book: version %d after %d", ev.Version, cur.Version()+i)
		}
		pub, err := events.DecodeAs[billing.CatalogPublished](schema.Registry, ev)
		if err != nil {
			return nil, storeError("decode catalogue", err)
		}
		pubs = append(pubs, &pub)
	}
	next, err := cur.With(pubs...)
	if err != nil {
		return nil, fmt.Errorf("load price book: %w", err)
	}
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	if next.Version() > s.book.Version() {
		s.book = next
	}
	return s.book, nil
}

// planCatalog returns the latest published catalogue as the PlanCatalog new
// subscriptions choose from.
func (s *Service) planCatalog(ctx context.Context) (*billing.Book, Catalog, error) {
	book, err := s.PriceBook(ctx)
	if err != nil {
		return nil, Catalog{}, err
	}
	return book, Catalog{book.Latest()}, nil
}

// PublishedMeters answers which meters clients may report from the latest
// published catalogue, so a meter published while the platform runs is
// accepted without a restart. A known meter costs no store read; an unknown
// one reads the catalogue events newer than the cached book once, then answers
// (docs/ARCHITECTURE.md, decision 14).
type PublishedMeters struct {
	Service *Service
	// Fallback answers while nothing was ever published (the configured file).
	Fallback MeterCatalog
}

// CustomMeter implements MeterCatalog.
func (p PublishedMeters) CustomMeter(id string) bool {
	s := p.Service
	s.bookMu.Lock()
	cur := s.book
	s.bookMu.Unlock()
	if cat := cur.Latest(); cat != nil && (Catalog{Catalog: cat}).CustomMeter(id) {
		return true
	}
	book, err := s.readBook(context.Background())
	if err != nil {
		s.logger().Warn("price book not read; meter check uses the cached book", "err", err)
		book = cur
	}
	if cat := book.Latest(); cat != nil {
		return Catalog{Catalog: cat}.CustomMeter(id)
	}
	return p.Fallback != nil && p.Fallback.CustomMeter(id)
}
