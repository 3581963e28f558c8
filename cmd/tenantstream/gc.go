package main

import (
	"os"
	"runtime/debug"
)

// tuneGC trades memory the server barely uses for CPU it needs: a request
// allocates little that lives, so the default GOGC=100 collects far more often
// than memory requires. A soft memory limit keeps the heap bounded anyway.
// Profiling PUT item with 64 clients: GOGC=300 gave about 13% more requests/s
// than the default in the same run. GOGC and GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}
