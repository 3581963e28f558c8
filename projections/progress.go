package projections

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ProgressPrinter renders rebuild progress: one line rewritten in place with a
// carriage return on a terminal, and plain lines (at most one per Every, plus each
// phase change) otherwise, so logs stay readable.
type ProgressPrinter struct {
	W     io.Writer
	TTY   bool
	Every time.Duration

	mu        sync.Mutex
	lastPhase string
	lastAt    time.Duration
	printed   bool
}

// NewProgressPrinter returns a printer for w that detects whether w is a terminal.
func NewProgressPrinter(w io.Writer) *ProgressPrinter {
	return &ProgressPrinter{W: w, TTY: isTerminal(w), Every: time.Second}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Print renders p; use it as RebuildOptions.Progress.
func (pp *ProgressPrinter) Print(p Progress) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	line := FormatProgress(p)
	if pp.TTY {
		end := ""
		if p.Done {
			end = "\n"
		}
		// \x1b[K clears what a longer previous line left behind.
		fmt.Fprintf(pp.W, "\r%s\x1b[K%s", line, end)
		return
	}
	if pp.printed && p.Phase == pp.lastPhase && !p.Done && p.Elapsed-pp.lastAt < pp.Every {
		return
	}
	pp.printed, pp.lastPhase, pp.lastAt = true, p.Phase, p.Elapsed
	fmt.Fprintln(pp.W, line)
}

// FormatProgress is the one-line summary of p.
func FormatProgress(p Progress) string {
	scope := "all tenants"
	if p.Tenant != "" {
		scope = "tenant " + string(p.Tenant)
	}
	rate := 0.0
	if p.Elapsed > 0 {
		rate = float64(p.Read) / p.Elapsed.Seconds()
	}
	pos := fmt.Sprintf("position %d", p.Position)
	if p.Head > 0 {
		pos = fmt.Sprintf("position %d/%d (%.0f%%)", p.Position, p.Head, 100*float64(p.Position)/float64(p.Head))
	}
	return fmt.Sprintf("%s (%s): %s, %d events read, %d applied, %s, %.0f events/s, %s",
		p.Projection, scope, p.Phase, p.Read, p.Applied, pos, rate, p.Elapsed.Round(time.Millisecond))
}
