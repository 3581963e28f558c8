package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/catalog"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/feed"
	"github.com/tenantstream/tenantstream/events/shred"
	evsqlite "github.com/tenantstream/tenantstream/events/sqlite"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/notify"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
	"github.com/tenantstream/tenantstream/projections"
	rmsqlite "github.com/tenantstream/tenantstream/projections/sqlite"
)

// Config configures the local platform.
type Config struct {
	Addr        string
	DataDir     string
	TestClock   bool
	CatalogFile string
	// IssuerURL is the token issuer; default: the one the data directory
	// recorded on its first run, http://<addr> of that run.
	IssuerURL string
	Grace     time.Duration
	// UsageWindowDays is how far back reported usage may be dated; 0: commands.UsageMaxAgeDays.
	UsageWindowDays int
	// Webhooks receive notifications, signed with WebhookSecret.
	Webhooks      []string
	WebhookSecret string
	// Intervals of the background loops.
	FlushInterval, ScheduleInterval, DeliverInterval time.Duration
	Log                                              *slog.Logger
	// StartAt sets the test clock's first reading (tests); zero: now, or where
	// the data directory's saved test clock is, if later.
	StartAt time.Time
	// Operator opens the directory for an operator command: on the directory's
	// saved test clock, if it ran on one, without the POST /test-clock route.
	Operator bool
	// Projections to run; nil runs every registered projection.
	Projections []projections.Projection
	// OnboardingRate and OnboardingBurst limit POST /onboarding per client
	// address (httpapi.OnboardingRate reads them): "" and 0 are the default,
	// 5 a minute in bursts of 5; "off" limits nothing.
	OnboardingRate  string
	OnboardingBurst int
	// HashMemoryMiB is the memory argon2id may hold at once, over every login,
	// onboarding and user creation; 0: identity.DefaultMemoryBudget.
	HashMemoryMiB int
	// CORSOrigins are the browser origins allowed to call the API
	// (httpapi.ParseCORSOrigins reads them; serve's --cors-origin). None: no
	// CORS header is ever sent.
	CORSOrigins []string
	// NoTenantRateLimits turns off the per-tenant limits of the plans'
	// rate_limits (serve --tenant-rate-limits=false): for load tests, which
	// measure the server rather than a plan.
	NoTenantRateLimits bool
}

// App is the whole local platform in one process: a wire.Platform on SQLite
// (the event store, the projection engine, the commands) plus what only the
// local server has: the data-directory lock, the feed that tails the store into
// the projections, the API, the scheduler and the notification dispatcher. main
// only handles signals; tests start an App on :0.
type App struct {
	*wire.Platform
	cfg        Config
	testClock  *clock.Test
	Store      *evsqlite.Store // the SQLite store under the platform's (sealing) store
	ReadModels *rmsqlite.Backend
	keys       *shred.FileKeyring
	Scheduler  *commands.Scheduler
	Dispatcher *notify.Dispatcher
	Registry   *prometheus.Registry
	handler    http.Handler
	lock       *os.File
	issued     prometheus.Counter
	log        *slog.Logger

	onboardingRate ratelimit.Rate
	cors           *httpapi.CORS // nil: no CORS

	// appliedPos is the store position of the last event the projections
	// handled, so callers can wait for them to catch up.
	mu         sync.Mutex
	appliedPos int64
}

// lockDataDir takes an exclusive lock on the data directory: the SQLite store
// caches streams and assumes one writing process.
func lockDataDir(dir string) (*os.File, error) {
	// Owner-only: the directory holds every tenant's data, and a lock anyone
	// could open (flock needs only read access) anyone could hold.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lockPath := filepath.Join(dir, "LOCK")
	if err := narrowToOwner(lockPath); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another tenantstream process (stop the server first): %w", dir, err)
	}
	return f, nil
}

// loadCatalog returns the catalogue from file, or the embedded default.
func loadCatalog(path string) (*billing.Catalog, error) {
	if path == "" {
		return catalog.Default(), nil
	}
	c, err := catalog.Load(path)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// OpenApp opens the data directory and wires the platform; Serve runs it.
func OpenApp(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 5 * time.Second
	}
	if cfg.ScheduleInterval <= 0 {
		cfg.ScheduleInterval = time.Minute
	}
	if cfg.DeliverInterval <= 0 {
		cfg.DeliverInterval = time.Second
	}
	cat, err := loadCatalog(cfg.CatalogFile)
	if err != nil {
		return nil, err
	}
	onboardingRate, err := httpapi.OnboardingRate(cfg.OnboardingRate, cfg.OnboardingBurst)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Log, Registry: prometheus.NewRegistry(), onboardingRate: onboardingRate}
	if len(cfg.CORSOrigins) > 0 {
		if a.cors, err = httpapi.NewCORS(cfg.CORSOrigins); err != nil {
			return nil, err
		}
	}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// The directory keeps its test clock across restarts (docs/ARCHITECTURE.md, "Operations").
	clk, testClock, err := dataDirClock(cfg.DataDir, cfg.TestClock, cfg.Operator, cfg.StartAt)
	if err != nil {
		return nil, err
	}
	a.testClock = testClock
	hasher, err := identity.NewHasherWithLimits(identity.HashParams{}, identity.HashLimits{MemoryBudget: int64(cfg.HashMemoryMiB) << 20})
	if err != nil {
		return nil, err
	}
	// Event-log cursors are sealed with a key kept in the data directory, so
	// they stay valid across restarts (docs/ARCHITECTURE.md, "API cursors").
	cursors, err := cursorseal.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Projections == nil {
		cfg.Projections = projections.Registered()
	}
	a.cfg.Projections = cfg.Projections
	a.issued = prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantstream_invoices_issued_total", Help: "Invoices issued."})
	local, err := openLocal(ctx, cfg.DataDir, clk, false)
	if err != nil {
		return nil, err
	}
	a.Store, a.ReadModels, a.keys = local.Events, local.ReadModels, local.Keys
	if a.Platform, err = wire.Open(ctx, wire.Options{Events: a.Store, ReadModels: a.ReadModels, Keys: local.Keys, Projections: cfg.Projections,
		Registerer: a.Registry, Clock: clk, Catalog: cat, Log: a.log, Passwords: hasher, Cursors: cursors,
		UsageWindow: usageWindow(cfg.UsageWindowDays), Grace: cfg.Grace, MeterWrites: true, PublishCatalog: !cfg.Operator && cfg.CatalogFile != "",
		OnIssued: func(billing.Invoice) { a.issued.Inc() }}); err != nil {
		return nil, err
	}
	// The projections have applied everything up to their saved feed cursor.
	saved, err := a.ReadModels.LoadCursor(ctx, "projections")
	if err != nil {
		return nil, err
	}
	if a.appliedPos, err = evsqlite.CursorPosition(saved); err != nil {
		return nil, err
	}
	appends := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantstream_projections_applied_position", Help: "Store position of the last event the projections applied."}, a.position)
	a.Registry.MustRegister(a.issued, appends)
	a.Scheduler = &commands.Scheduler{Billing: a.Billing}
	// Invitations and password resets are delivered with their one-time
	// tokens, derived at delivery: the outbox never holds them.
	a.Dispatcher = &notify.Dispatcher{Reader: a.Reader, Dir: cfg.DataDir, Log: a.log, Enrich: a.Service.EnrichNotification}
	for _, u := range cfg.Webhooks {
		a.Dispatcher.Webhooks = append(a.Dispatcher.Webhooks, notify.Webhook{URL: u, Secret: []byte(cfg.WebhookSecret)})
	}
	return a, nil
}

// usageWindow is the usage window of a --usage-window-days; 0 or less: the
// commands' default (commands.UsageMaxAge).
func usageWindow(days int) time.Duration {
	if days <= 0 {
		return 0
	}
	return time.Duration(days) * 24 * time.Hour
}

func (a *App) position() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return float64(a.appliedPos)
}

// buildHandler wires the API once the listening address (and so the issuer URL) is known.
// clockMoved records the test clock's new reading with the data directory,
// then runs what became due, before POST /test-clock answers.
func (a *App) clockMoved(ctx context.Context) error {
	if err := saveTestClock(a.cfg.DataDir, a.testClock.Now()); err != nil {
		return fmt.Errorf("save the test clock: %w", err)
	}
	return a.runDue(ctx)
}

// operatorVerifier verifies the operator tokens `tenantstream operator token`
// mints with the data directory's operator key (docs/ARCHITECTURE.md,
// decision 21), creating the key on first start. A directory or key that
// others may read serves no operator tokens (logged): the key would not be
// the owner's alone.
func (a *App) operatorVerifier() auth.TokenVerifier {
	k, err := identity.LoadOrCreateOperatorKey(a.cfg.DataDir)
	if err != nil {
		a.log.Warn("operator tokens are disabled", "error", err)
		return nil
	}
	return k.Verifier(a.Clock)
}

// onlineEraser lets the operator's offboard route erase a tenant on a running
// server (commands.TenantEraser): the tenant's data keys are destroyed and
// every projection rebuilt from the store, as `tenants erase` does. What it
// does not do while serving is scrub the read-model file's free pages and the
// notification files (the dispatcher writes them): `tenants erase` on the
// stopped server does that (docs/data-protection.md).
type onlineEraser struct{ a *App }

func (e onlineEraser) EraseTenant(ctx context.Context, tid events.TenantID) error {
	m := commands.Meta{Principal: ident.Principal{UserID: "operator", Roles: []string{ident.RolePlatformAdmin}}}
	_, err := e.a.Platform.EraseTenant(ctx, m, string(tid), nil)
	return err
}

func (a *App) buildHandler(addr string) error {
	if a.Sealed != nil {
		a.Service.Eraser = onlineEraser{a}
	}
	key, err := identity.LoadOrCreateSigningKey(a.cfg.DataDir)
	if err != nil {
		return err
	}
	issuerURL, err := dataDirIssuer(a.cfg.DataDir, a.cfg.IssuerURL, addr)
	if err != nil {
		return err
	}
	const clientID = "tenantstream-local"
	iss, err := identity.NewIssuer(identity.IssuerConfig{URL: issuerURL, ClientID: clientID, Key: key, Clock: a.Clock})
	if err != nil {
		return err
	}
	keys, err := auth.NewStaticKeys(iss.JWKS())
	if err != nil {
		return err
	}
	ver, err := auth.NewVerifier(auth.Config{Issuer: iss.URL(), ClientIDs: []string{clientID}, Keys: keys, Clock: a.Clock})
	if err != nil {
		return err
	}
	jwks, err := auth.JWKSHandler(iss.JWKS())
	if err != nil {
		return err
	}
	oidc, err := auth.OpenIDConfigurationHandler(iss.OpenIDConfiguration())
	if err != nil {
		return err
	}
	api := &httpapi.API{
		Service:        a.Service,
		Authenticate:   auth.Bearer(auth.WithOperators(a.BearerVerifier(ver), a.operatorVerifier())),
		Logins:         &commands.Auth{Service: a.Service, Issuer: issuerAdapter{iss}, Throttle: identity.NewThrottle(a.Clock)},
		Billing:        a.Billing,
		Meters:         a.Meters,
		PasswordPolicy: identity.ValidatePassword,
		Usage:          a.Meter,
		TestClock:      a.testClock,
		Advanced:       a.clockMoved,
		JWKS:           jwks,
		OpenIDConfig:   oidc,
		Metrics:        httpapi.NewMetrics(a.Registry),
		Ready:          a.ready,
		OpenAPI:        httpapi.OpenAPI,
		Log:            a.log,
	}
	// Per process, which locally is the whole platform (docs/api.md).
	api.OnboardingLimit = ratelimit.New(a.Clock, a.onboardingRate, 0)
	api.CORS = a.cors
	api.PasswordResetLimit = ratelimit.New(a.Clock, httpapi.DefaultPasswordResetRate, 0)
	// The one process is the whole platform locally, so its table is every
	// tenant's budget (docs/api.md, "Rate limits").
	if !a.cfg.NoTenantRateLimits {
		api.TenantLimit = ratelimit.NewKeyed(a.Clock, 0)
		api.TenantLimitHold = httpapi.DefaultTenantLimitHold
	}
	a.handler = api.Handler()
	return nil
}

// issuerAdapter turns the identity package's tokens into the commands' shape.
type issuerAdapter struct{ is *identity.Issuer }

func (i issuerAdapter) Issue(p ident.Principal) (commands.Tokens, error) {
	t, err := i.is.Issue(p)
	if err != nil {
		return commands.Tokens{}, err
	}
	return commands.Tokens{AccessToken: t.AccessToken, IDToken: t.IDToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn}, nil
}

// ready answers /readyz: the store reads, and takes writes unless its last write
// failed for lack of space (docs/ARCHITECTURE.md, "Running out of room").
func (a *App) ready(ctx context.Context) error {
	if _, err := a.Store.ReadAll(ctx, "", events.ReadOptions{Limit: 1}); err != nil {
		return err
	}
	return a.Store.Writable(ctx)
}

// handleBatch feeds the engine and records progress for WaitForProjections.
func (a *App) handleBatch(ctx context.Context, batch []events.Event) error {
	if err := a.Engine.Handle(ctx, batch); err != nil {
		return err
	}
	a.mu.Lock()
	if n := len(batch); n > 0 && batch[n-1].Position > a.appliedPos {
		a.appliedPos = batch[n-1].Position
	}
	a.mu.Unlock()
	return nil
}

// WaitForProjections waits until the projections have applied everything the
// store held when it was called.
func (a *App) WaitForProjections(ctx context.Context) error {
	head, err := a.head(ctx)
	if err != nil || head == 0 {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.mu.Lock()
		applied := a.appliedPos
		a.mu.Unlock()
		if applied >= head {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.New("projections did not catch up within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// head returns the store's last position.
func (a *App) head(ctx context.Context) (int64, error) { return a.Store.Head(ctx) }

// runDue runs the scheduled work that became due: flush metering, let the
// projections catch up, close due periods, then deliver notifications.
func (a *App) runDue(ctx context.Context) error {
	if err := a.Meter.Flush(ctx); err != nil {
		return err
	}
	if err := a.WaitForProjections(ctx); err != nil {
		return err
	}
	if _, err := a.Scheduler.RunDue(ctx); err != nil {
		return err
	}
	if err := a.WaitForProjections(ctx); err != nil {
		return err
	}
	_, err := a.Dispatcher.Deliver(ctx)
	return err
}

// Serve runs the platform on ln until ctx ends, then shuts down gracefully:
// it stops accepting requests, drains those in flight, flushes metering, lets the
// projections catch up and delivers pending notifications.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.buildHandler(ln.Addr().String()); err != nil {
		return err
	}
	if err := a.BackfillNewProjections(ctx); err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	tail := feed.New(a.Platform.Store, a.handleBatch, feed.Options{Name: "projections", Cursors: a.ReadModels, Logger: a.log, PollInterval: 250 * time.Millisecond})
	wg.Add(1)
	go func() { defer wg.Done(); _ = tail.Run(bg) }()
	// The loops stop before the tail does (the meter's last flush must reach the
	// projections), so they have their own WaitGroup.
	loops, stopLoops := context.WithCancel(bg)
	var loopsWG sync.WaitGroup
	loopsWG.Add(3)
	go func() { defer loopsWG.Done(); a.Meter.Run(loops, a.cfg.FlushInterval) }()
	go func() { defer loopsWG.Done(); a.Scheduler.Run(loops, a.cfg.ScheduleInterval) }()
	go func() { defer loopsWG.Done(); a.Dispatcher.Run(loops, a.cfg.DeliverInterval) }()
	// Operator commands on the live platform (docs/ARCHITECTURE.md, "Operations").
	op := a.serveOperator(bg)

	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("tenantstream serving", "addr", ln.Addr().String(), "data", a.cfg.DataDir, "test_clock", a.testClock != nil)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		a.log.Warn("shutdown: requests did not drain", "err", err)
	}
	// Cancels running operator commands and removes the socket.
	op.Close()
	stopLoops() // the meter flushes once more on its way out
	loopsWG.Wait()
	if err := a.WaitForProjections(shutdownCtx); err != nil {
		a.log.Warn("shutdown: projections did not catch up", "err", err)
	}
	if _, err := a.Dispatcher.Deliver(shutdownCtx); err != nil {
		a.log.Warn("shutdown: notifications not delivered", "err", err)
	}
	stopBG()
	wg.Wait()
	// A failing webhook never holds the shutdown: what it still owes stays in
	// the deliveries ledger for the next start.
	a.Dispatcher.Shutdown(2 * time.Second)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Close releases the stores and the data directory.
func (a *App) Close() error {
	errs := []error{localStores{a.Store, a.ReadModels, a.keys}.Close()}
	if a.lock != nil {
		errs = append(errs, a.lock.Close())
	}
	return errors.Join(errs...)
}

// BackfillNewProjections rebuilds, from the whole store, every registered
// projection this data directory has not run before. All projections share one
// feed cursor, so a projection added to a platform with history would otherwise
// only see events from now on; this keeps "add a projection by writing one file"
// true without a manual `projections rebuild`.
func (a *App) BackfillNewProjections(ctx context.Context) error {
	cursor, err := a.ReadModels.LoadCursor(ctx, "projections")
	if err != nil {
		return err
	}
	for _, p := range a.cfg.Projections {
		marker := "known-projection:" + p.Name()
		seen, err := a.ReadModels.LoadCursor(ctx, marker)
		if err != nil {
			return err
		}
		if seen != "" {
			continue
		}
		if cursor != "" { // the feed has run before: this projection missed history
			a.log.Info("backfilling a new projection from the event store", "projection", p.Name())
			if err := a.Engine.Rebuild(ctx, p.Name(), projections.RebuildOptions{}); err != nil {
				return fmt.Errorf("backfill new projection %s: %w", p.Name(), err)
			}
		}
		if err := a.ReadModels.SaveCursor(ctx, marker, "1"); err != nil {
			return err
		}
	}
	return nil
}

// CatchUp applies every event the projections have not seen yet, then returns.
func (a *App) CatchUp(ctx context.Context) error {
	tailCtx, stop := context.WithCancel(ctx)
	defer stop()
	tail := feed.New(a.Platform.Store, a.handleBatch, feed.Options{Name: "projections", Cursors: a.ReadModels, Logger: a.log, PollInterval: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- tail.Run(tailCtx) }()
	err := a.WaitForProjections(ctx)
	stop()
	if terr := <-done; err == nil && terr != nil && !errors.Is(terr, context.Canceled) {
		err = terr
	}
	return err
}
