package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

// maxSocketPath is the longest Unix socket path every unix accepts (sun_path
// is 104 bytes on macOS and the BSDs, 108 on Linux, with the NUL).
const maxSocketPath = 103

// maxOperatorRequest bounds an operator request body.
const maxOperatorRequest = 64 << 10

// operatorServer answers operator commands on data/operator.sock while the
// App serves (docs/ARCHITECTURE.md, "Operations"). Only the data directory's
// owner can reach it: the socket is mode 0600 in a directory that is neither
// group- nor world-writable and owned by the server's user, and where the
// kernel tells (SO_PEERCRED on Linux) every connection's uid must be the
// server's.
type operatorServer struct {
	app   *App
	log   *slog.Logger
	path  string
	owner int // the uid allowed to connect: the server's own
	srv   *http.Server
	ln    net.Listener
	stop  context.CancelFunc
	done  chan struct{}
	runMu sync.Mutex // one operator command at a time
}

type peerUIDKey struct{}

// peerOf is what a connection's peer is, as ConnContext found it.
type peerOf struct {
	uid int
	err error
}

// serveOperator starts the operator socket; ctx ends the commands it runs. It
// never fails the server: a directory it cannot serve safely is logged and the
// operator commands then ask for the server to be stopped, as before. Close
// the result (nil-safe) on shutdown.
func (a *App) serveOperator(ctx context.Context) *operatorServer {
	o, err := listenOperator(a, a.cfg.DataDir)
	if err != nil {
		a.log.Warn("operator socket not served: billing close and projections rebuild need the server stopped", "err", err)
		return nil
	}
	o.start(ctx)
	a.log.Info("operator socket listening", "path", o.path)
	return o
}

// listenOperator creates the socket for app in dir, for this process's user.
func listenOperator(app *App, dir string) (*operatorServer, error) {
	owner := os.Getuid()
	if err := checkPrivateDir(dir, owner); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, operatorSocket)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is longer than %d bytes; use a shorter --data path", path, maxSocketPath)
	}
	// The caller holds the data-directory lock, so no other server is on a
	// socket left here: it is a crashed run's, and goes.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale %s: %w", path, err)
	}
	// Bind in a fresh private directory, make the socket 0600, then rename it
	// into place, so it is never reachable with the umask's mode.
	tmp, err := os.MkdirTemp(dir, ".op")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	if len(bound) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is longer than %d bytes; use a shorter --data path", bound, maxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // it is renamed; Close removes path
	if err := os.Chmod(bound, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(bound, path); err != nil {
		ln.Close()
		return nil, err
	}
	o := &operatorServer{app: app, log: app.log, path: path, owner: owner, ln: ln, done: make(chan struct{})}
	return o, nil
}

func (o *operatorServer) start(ctx context.Context) {
	ctx, o.stop = context.WithCancel(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/billing/close", o.handleClose)
	mux.HandleFunc("POST /v1/projections/rebuild", o.handleRebuild)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeOperatorError(w, http.StatusNotFound, fmt.Sprintf("no operator command %s %s (want POST /v1/billing/close or /v1/projections/rebuild)", r.Method, r.URL.Path))
	})
	o.srv = &http.Server{
		Handler:     o.authorize(mux),
		BaseContext: func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerUIDKey{}, peerFor(c))
		},
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(o.done)
		if err := o.srv.Serve(o.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Warn("operator socket stopped", "err", err)
		}
	}()
}

// Close stops the operator socket: running commands are cancelled, then the
// socket file is removed.
func (o *operatorServer) Close() {
	if o == nil {
		return
	}
	o.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.srv.Close()
	}
	<-o.done
	if err := os.Remove(o.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.log.Warn("remove operator socket", "err", err)
	}
}

func peerFor(c net.Conn) peerOf {
	uid, err := peerUID(c)
	return peerOf{uid: uid, err: err}
}

// authorize refuses every request of a connection whose peer is not the
// owner, before reading its body.
func (o *operatorServer) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerUIDKey{}).(peerOf)
		if err := checkPeer(p.uid, p.err, o.owner); err != nil {
			o.log.Warn("operator socket: connection refused", "err", err)
			writeOperatorError(w, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkPeer allows a peer only with the owner's uid. errPeerUnknown (no peer
// credentials on this system) is allowed: there the socket's mode and its
// directory are the check.
func checkPeer(uid int, err error, owner int) error {
	switch {
	case errors.Is(err, errPeerUnknown):
		return nil
	case err != nil:
		return fmt.Errorf("operator socket: cannot tell who is connecting: %v", err)
	case uid != owner:
		return fmt.Errorf("operator socket: uid %d is not the data directory's owner (uid %d)", uid, owner)
	}
	return nil
}

// decodeOperator reads a strict JSON request body into v.
func decodeOperator(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOperatorRequest))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		writeOperatorError(w, http.StatusBadRequest, "malformed operator request: "+err.Error())
		return false
	}
	return true
}

func (o *operatorServer) handleClose(w http.ResponseWriter, r *http.Request) {
	var req closeRequest
	if !decodeOperator(w, r, &req) {
		return
	}
	p, err := billing.ParsePeriod(req.Period)
	if err != nil {
		writeOperatorError(w, http.StatusBadRequest, "--period: "+err.Error())
		return
	}
	b := o.app.Billing
	if req.Grace != "" || req.Catalog != "" {
		// The CLI's --grace and --catalog apply to this close only: a Billing
		// of its own over the server's one Service and store, so there is
		// still one writer (docs/ARCHITECTURE.md, "Operations").
		grace := b.Grace
		if req.Grace != "" {
			if grace, err = time.ParseDuration(req.Grace); err != nil || grace < 0 {
				writeOperatorError(w, http.StatusBadRequest, fmt.Sprintf("--grace: %q is not a duration", req.Grace))
				return
			}
		}
		cat := b.Catalog
		if req.Catalog != "" {
			if cat, err = loadCatalog(req.Catalog); err != nil {
				writeOperatorError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		b = &commands.Billing{Service: b.Service, Catalog: cat, Grace: grace, Log: b.Log, OnIssued: b.OnIssued}
	}
	o.run(w, r, func(ctx context.Context, stdout, _ io.Writer) error {
		if err := closePeriods(ctx, stdout, b, o.app.Service, events.TenantID(req.Tenant), p); err != nil {
			return err
		}
		// As against a stopped server, the read models show the invoices when
		// the command returns.
		return o.app.WaitForProjections(ctx)
	})
}

func (o *operatorServer) handleRebuild(w http.ResponseWriter, r *http.Request) {
	var req rebuildRequest
	if !decodeOperator(w, r, &req) {
		return
	}
	if len(req.Projections) == 0 {
		writeOperatorError(w, http.StatusBadRequest, "name one projection or pass --all")
		return
	}
	o.run(w, r, func(ctx context.Context, stdout, stderr io.Writer) error {
		return rebuildProjections(ctx, stdout, stderr, req.TTY, o.app.Engine, req.Projections, events.TenantID(req.Tenant))
	})
}

// run runs one command, streaming what it prints as NDJSON lines and ending
// with its exit status.
func (o *operatorServer) run(w http.ResponseWriter, r *http.Request, cmd func(ctx context.Context, stdout, stderr io.Writer) error) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	s := &ndjsonStream{w: w, rc: http.NewResponseController(w)}
	if !o.runMu.TryLock() {
		s.write(operatorLine{Stderr: "waiting for another operator command to finish\n"})
		o.runMu.Lock()
	}
	defer o.runMu.Unlock()
	o.log.Info("operator command", "path", r.URL.Path)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				o.log.Error("operator command panicked", "path", r.URL.Path, "panic", p)
				err = fmt.Errorf("the server failed running the command (see its log)")
			}
		}()
		return cmd(r.Context(), s.stream(false), s.stream(true))
	}()
	if err != nil && r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		err = errors.New("cancelled: the server is shutting down or the client went away")
	}
	code := exitStatusOf(err)
	last := operatorLine{Exit: &code}
	var status exitCode
	if err != nil && !errors.As(err, &status) { // a bare status (an audit's 1) has no message
		last.Error = err.Error()
		o.log.Warn("operator command failed", "path", r.URL.Path, "err", err)
	}
	s.write(last)
}

// ndjsonStream writes operatorLines, flushing each.
type ndjsonStream struct {
	mu sync.Mutex
	w  io.Writer
	rc *http.ResponseController
}

func (s *ndjsonStream) write(l operatorLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(l)
	_, _ = s.w.Write(append(b, '\n'))
	_ = s.rc.Flush()
}

type streamWriter struct {
	s      *ndjsonStream
	stderr bool
}

func (s *ndjsonStream) stream(stderr bool) io.Writer { return streamWriter{s, stderr} }

func (w streamWriter) Write(p []byte) (int, error) {
	if w.stderr {
		w.s.write(operatorLine{Stderr: string(p)})
	} else {
		w.s.write(operatorLine{Stdout: string(p)})
	}
	return len(p), nil
}

func writeOperatorError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(operatorError{Error: msg})
}
