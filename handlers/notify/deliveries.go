package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Webhook delivery states, as the deliveries ledger records them.
const (
	StatusPending   = "pending"   // owed: delivered by the next attempt, or after a restart
	StatusDelivered = "delivered" // the receiver answered 2xx
	StatusFailed    = "failed"    // every attempt failed; retried after a restart or by resend
	StatusResend    = "resend"    // an operator asked for another delivery
)

// deliveriesName is the ledger of webhook deliveries in the data directory: one
// JSON line per change of a (notification, webhook) pair's state, appended and
// synced, so no delivery owed is ever forgotten (docs/ARCHITECTURE.md,
// "Notifications"). The newest line of a pair is its state.
const deliveriesName = "deliveries.jsonl"

// Delivery is one line of the ledger: the state of delivering notification ID
// to webhook URL.
type Delivery struct {
	ID       string          `json:"id"`
	URL      string          `json:"url"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts,omitempty"`
	Error    string          `json:"error,omitempty"`
	At       time.Time       `json:"at"`
	Body     json.RawMessage `json:"body,omitempty"` // on pending and resend lines: what to send
	// Resend numbers an operator's requests for a pair (1, 2, ...) on resend
	// lines; on delivered and failed lines, the request the attempt served.
	Resend int `json:"resend,omitempty"`
}

type pairKey struct{ id, url string }

// ledger appends to and tails a data directory's deliveries ledger.
type ledger struct {
	path   string
	mu     sync.Mutex // serialises appends and tails
	offset int64      // how far tail has read
}

func newLedger(dir string) *ledger { return &ledger{path: filepath.Join(dir, deliveriesName)} }

// append writes lines and syncs them before it returns.
func (l *ledger) append(ds ...Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, d := range ds {
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode delivery: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return appendSynced(l.path, buf.Bytes())
}

// appendSynced appends b to the owner-only file path (a looser file is
// narrowed) and syncs it before it returns: the deliveries ledger and the
// notifications file.
func appendSynced(path string, b []byte) error {
	name := filepath.Base(path)
	// O_APPEND: the server and an operator's resend append to one file; each
	// write lands whole at the end.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		_ = f.Chmod(0o600)
	}
	// A line a crash tore has no newline: end it first, so this line is not
	// glued to it (the torn line is then skipped as unreadable).
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", name, werr)
	}
	return nil
}

// tail returns the lines appended since the last tail (the first call: all),
// stopping before a torn last line, which a later tail reads once it is whole.
func (l *ledger) tail() ([]Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open deliveries: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	var out []Delivery
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil // a line without its newline is not whole yet
			}
			return out, fmt.Errorf("read deliveries: %w", err)
		}
		l.offset += int64(len(line))
		var d Delivery
		if json.Unmarshal(line, &d) != nil || d.ID == "" || d.URL == "" {
			continue // a line torn by a crash, completed by a later append
		}
		out = append(out, d)
	}
}

// pairState is what the ledger says of one (notification, webhook) pair.
type pairState struct {
	last      Delivery        // the newest line
	body      json.RawMessage // from the newest line that had one
	requested int             // the newest resend asked for
	served    int             // the newest resend a delivery served
}

// owed reports whether the pair still needs a delivery: its newest attempt
// did not succeed, or an operator asked for one that no delivery served yet.
func (p *pairState) owed() bool {
	return p.last.Status == StatusPending || p.last.Status == StatusFailed || p.requested > p.served
}

// state is the newest view of the pair, as Deliveries shows it.
func (p *pairState) state() Delivery {
	d := p.last
	if p.requested > p.served && d.Status != StatusPending {
		d.Status = StatusResend
	}
	d.Body, d.Resend = nil, p.requested
	return d
}

// fold adds ledger lines to the pairs' states.
func fold(into map[pairKey]*pairState, ds []Delivery) {
	for _, d := range ds {
		k := pairKey{d.ID, d.URL}
		p := into[k]
		if p == nil {
			p = &pairState{}
			into[k] = p
		}
		if len(d.Body) > 0 {
			p.body = d.Body
		}
		switch d.Status {
		case StatusResend:
			p.requested = max(p.requested, d.Resend)
			if p.last.Status == "" {
				p.last = d
			}
			continue // a request, not an outcome: the newest outcome stays
		case StatusDelivered:
			p.served = max(p.served, d.Resend)
		}
		p.last = d
	}
}

// Deliveries returns the webhook deliveries of a data directory's
// notifications, newest state per webhook, by notification id.
func Deliveries(dir string) (map[string][]Delivery, error) {
	ds, err := newLedger(dir).tail()
	if err != nil {
		return nil, err
	}
	state := map[pairKey]*pairState{}
	fold(state, ds)
	out := map[string][]Delivery{}
	for _, p := range state {
		d := p.state()
		out[d.ID] = append(out[d.ID], d)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].URL < list[j].URL })
	}
	return out, nil
}

// Resend asks for another delivery of notifications to the webhooks they were
// sent to: those named by ids, or with failed, every one whose delivery
// failed. A running server picks the request up within its delivery interval;
// a stopped one at its next start. It returns how many deliveries it asked for.
func Resend(dir string, ids []string, failed bool, now time.Time) (int, error) {
	l := newLedger(dir)
	ds, err := l.tail()
	if err != nil {
		return 0, err
	}
	state := map[pairKey]*pairState{}
	fold(state, ds)
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]bool{}
	var out []Delivery
	for k, p := range state {
		if !want[k.id] && !(failed && p.last.Status == StatusFailed) {
			continue
		}
		found[k.id] = true
		out = append(out, Delivery{ID: k.id, URL: k.url, Status: StatusResend, At: now.UTC(), Body: p.body, Resend: p.requested + 1})
	}
	for _, id := range ids {
		if !found[id] {
			return 0, fmt.Errorf("notification %q was never sent to a webhook", id)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].URL < out[j].URL
	})
	return len(out), l.append(out...)
}
