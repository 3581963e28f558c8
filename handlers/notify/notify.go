package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/projections"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" over
// "<t>.<body>", as Stripe signs webhooks, so receivers can check authenticity and
// reject replays older than a tolerance.
const SignatureHeader = "Tenantstream-Signature"

// Sign returns the signature header value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body, accepting timestamps within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, ok := bytes.Cut(part, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("verify webhook: malformed signature header")
	}
	t := time.Unix(sec, 0)
	if now.Sub(t) > tolerance || t.Sub(now) > tolerance {
		return errors.New("verify webhook: timestamp outside tolerance")
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("verify webhook: signature mismatch")
	}
	return nil
}

// Webhook is one configured receiver.
type Webhook struct {
	URL    string
	Secret []byte
}

// Dispatcher walks the outbox read model and delivers each notification once to
// the log and the JSON-lines file, and to every webhook with retries and
// exponential backoff. Its cursor is saved in the data directory, so a restart
// resumes; delivery is at least once and receivers deduplicate by notification id.
// Every webhook delivery owed is recorded in the deliveries ledger before the
// cursor moves past it, with its outcome after: a delivery that gave up, or
// that a shutdown interrupted, is retried at the next start, and an operator
// can ask for it again (Resend).
type Dispatcher struct {
	Reader   projections.Reader
	Dir      string // data directory: notifications.jsonl and the cursor live here
	Webhooks []Webhook
	Client   *http.Client
	Log      *slog.Logger
	// Enrich, when set, completes each notification as it is delivered: the
	// composition root adds the one-time tokens of invitations and password
	// resets (commands.Service.EnrichNotification), which the outbox read
	// model never holds. The JSON-lines file and the webhook bodies get the
	// enriched notification; the deliveries ledger keeps it as the outbox
	// has it, and a webhook body is enriched as it is sent, resends included.
	Enrich func(projections.Notification) projections.Notification
	// MaxAttempts bounds webhook retries (default 8); Backoff is the first delay (default 1s).
	MaxAttempts int
	Backoff     time.Duration

	mu     sync.Mutex
	cursor string
	loaded bool
	wg     sync.WaitGroup

	ledger   *ledger
	pairs    map[pairKey]*pairState // the ledger as read so far
	sent     map[pairKey]int        // the newest resend this process started a delivery for
	stopOnce sync.Once
	stopCtx  context.Context // ends retries: Shutdown
	stop     context.CancelFunc
}

const (
	fileName   = "notifications.jsonl"
	cursorName = "notifications.cursor"
)

// FilePath is where a data directory's delivered notifications are written.
func FilePath(dir string) string { return filepath.Join(dir, fileName) }

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Deliver delivers every notification after the saved cursor and returns how many.
func (d *Dispatcher) Deliver(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		b, err := os.ReadFile(filepath.Join(d.Dir, cursorName))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("read notification cursor: %w", err)
		}
		d.cursor = string(bytes.TrimSpace(b))
		// Deliveries owed when the last run stopped, or given up, go out again.
		if err := d.resume(true); err != nil {
			return 0, err
		}
		d.loaded = true
	} else if err := d.resume(false); err != nil {
		return 0, err // resends an operator asked for meanwhile
	}
	n := 0
	for {
		entries, err := d.Reader.List(ctx, projections.Outbox{}.Name(), projections.PlatformTenant, projections.OutboxCollection, d.cursor, 200)
		if err != nil {
			return n, fmt.Errorf("list outbox: %w", err)
		}
		if len(entries) == 0 {
			return n, nil
		}
		var buf bytes.Buffer
		var owed []Delivery
		for _, e := range entries {
			var note projections.Notification
			if err := json.Unmarshal(e.Value, &note); err != nil {
				d.log().Error("undecodable notification skipped", "key", e.Key, "err", err)
				continue
			}
			d.log().Info("notification", "type", note.Type, "tenant", note.TenantID, "id", note.ID)
			buf.Write(bytes.TrimSpace(d.enrich(e.Value)))
			buf.WriteByte('\n')
			for _, w := range d.Webhooks {
				owed = append(owed, Delivery{ID: note.ID, URL: w.URL, Status: StatusPending, At: time.Now().UTC(), Body: e.Value})
			}
		}
		// Owner-only and torn-line safe, as the deliveries ledger: both hold
		// every tenant's notifications.
		if err := appendSynced(FilePath(d.Dir), buf.Bytes()); err != nil {
			return n, err
		}
		// Owed before the cursor moves on: a crash now delivers them again.
		if err := d.deliveries().append(owed...); err != nil {
			return n, err
		}
		for _, o := range owed {
			d.send(o)
		}
		d.cursor = entries[len(entries)-1].Key
		if err := writeFileAtomic(filepath.Join(d.Dir, cursorName), []byte(d.cursor)); err != nil {
			return n, err
		}
		n += len(entries)
	}
}

// enrich is a notification's bytes as delivered: raw, or Enrich's result.
func (d *Dispatcher) enrich(raw []byte) []byte {
	if d.Enrich == nil {
		return raw
	}
	var n projections.Notification
	if err := json.Unmarshal(raw, &n); err != nil {
		return raw
	}
	out, err := json.Marshal(d.Enrich(n))
	if err != nil {
		return raw
	}
	return out
}

func (d *Dispatcher) deliveries() *ledger {
	if d.ledger == nil {
		d.ledger = newLedger(d.Dir)
	}
	return d.ledger
}

func (d *Dispatcher) retries() context.Context {
	d.stopOnce.Do(func() { d.stopCtx, d.stop = context.WithCancel(context.Background()) })
	return d.stopCtx
}

// resume reads the ledger lines appended since the last look and sends what
// they make owed: at the start (all), every pair whose last attempt did not
// succeed; always, every resend an operator asked for that this process has
// not started yet. Pairs for webhooks no longer configured stay owed, listed.
func (d *Dispatcher) resume(start bool) error {
	lines, err := d.deliveries().tail()
	if err != nil {
		return err
	}
	if d.pairs == nil {
		d.pairs, d.sent = map[pairKey]*pairState{}, map[pairKey]int{}
	}
	fold(d.pairs, lines)
	keys := make([]pairKey, 0, len(d.pairs))
	for k := range d.pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].id < keys[j].id || (keys[i].id == keys[j].id && keys[i].url < keys[j].url)
	})
	for _, k := range keys {
		p := d.pairs[k]
		due := p.requested > p.served && p.requested > d.sent[k]
		if start && p.owed() {
			due = true
		}
		if due && len(p.body) > 0 {
			d.sent[k] = p.requested
			d.send(Delivery{ID: k.id, URL: k.url, Body: p.body, Resend: p.requested})
		}
	}
	return nil
}

// send starts delivering one owed delivery to its webhook, if configured.
func (d *Dispatcher) send(o Delivery) {
	for _, w := range d.Webhooks {
		if w.URL == o.URL {
			d.wg.Add(1)
			go d.post(d.retries(), w, o.ID, o.Body, o.Resend)
			return
		}
	}
}

// post delivers body to w, retrying with backoff, and records the outcome: a
// 2xx is delivered, the last failed attempt failed. A shutdown (ctx) ends it
// at once and records nothing, so the delivery stays owed for the next start.
func (d *Dispatcher) post(ctx context.Context, w Webhook, id string, body []byte, resend int) {
	defer d.wg.Done()
	client := d.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	body = d.enrich(body) // the ledger keeps it without tokens
	attempts, backoff := d.MaxAttempts, d.Backoff
	if attempts <= 0 {
		attempts = 8
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	record := func(status string, n int, err error) {
		dl := Delivery{ID: id, URL: w.URL, Status: status, Attempts: n, At: time.Now().UTC(), Resend: resend}
		if err != nil {
			dl.Error = err.Error()
		}
		if rerr := d.deliveries().append(dl); rerr != nil {
			d.log().Error("webhook delivery not recorded", "url", w.URL, "id", id, "status", status, "err", rerr)
		}
	}
	for i := 1; ; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			d.log().Error("bad webhook url", "url", w.URL, "err", err)
			record(StatusFailed, i, err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Tenantstream-Notification-Id", id)
		req.Header.Set(SignatureHeader, Sign(w.Secret, time.Now(), body))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				record(StatusDelivered, i, nil)
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return // shutting down: still owed
		}
		if i >= attempts {
			d.log().Error("webhook delivery gave up", "url", w.URL, "id", id, "attempts", i, "err", err)
			record(StatusFailed, i, err)
			return
		}
		d.log().Warn("webhook delivery failed; retrying", "url", w.URL, "id", id, "attempt", i, "err", err)
		t := time.NewTimer(backoff << (i - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Wait waits for in-flight webhook deliveries (tests).
func (d *Dispatcher) Wait() { d.wg.Wait() }

// Shutdown lets in-flight webhook deliveries finish for up to grace, then ends
// their retries, which stay owed in the ledger for the next start, and returns
// once each has stopped. A failing receiver never holds a shutdown longer.
func (d *Dispatcher) Shutdown(grace time.Duration) {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	d.retries()
	d.stop()
	<-done
}

// Run delivers every interval until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	clock.Every(ctx, interval, func(ctx context.Context) error {
		_, err := d.Deliver(ctx)
		return err
	}, func(err error) { d.log().Warn("notification delivery failed; will retry", "err", err) })
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadFile returns the notifications delivered in a data directory.
func ReadFile(dir string) ([]json.RawMessage, error) {
	b, err := os.ReadFile(FilePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return []json.RawMessage{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	out := []json.RawMessage{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || !json.Valid(line) {
			continue // a torn last line after a crash
		}
		out = append(out, json.RawMessage(line))
	}
	return out, nil
}
