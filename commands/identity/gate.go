package identity

import (
	"container/list"
	"context"
	"sync"
)

// memGate is a weighted FIFO semaphore over a memory budget in KiB: every
// argon2id call holds its memory cost while it runs, so the calls in flight never
// hold more than the budget together. Waiters are served in arrival order, so a
// stream of small calls cannot starve a large one.
type memGate struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *gateWaiter
}

type gateWaiter struct {
	n     int64
	ready chan struct{} // closed once the waiter holds its n
}

func newMemGate(size int64) *memGate { return &memGate{size: size} }

// weight is what a call of memKiB holds: at least 1 and at most the whole budget,
// so a call costlier than the budget still runs, alone.
func (g *memGate) weight(memKiB int64) int64 { return min(max(memKiB, 1), g.size) }

// acquire takes n (from weight) or returns ctx's error once ctx is done.
func (g *memGate) acquire(ctx context.Context, n int64) error {
	g.mu.Lock()
	if g.size-g.used >= n && g.waiters.Len() == 0 {
		g.used += n
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	elem := g.waiters.PushBack(w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		select {
		case <-w.ready:
			// Granted while we were giving up: give it back.
			g.used -= n
			g.grant()
		default:
			front := g.waiters.Front() == elem
			g.waiters.Remove(elem)
			if front {
				// We may have been blocking smaller waiters behind us.
				g.grant()
			}
		}
		g.mu.Unlock()
		return ctx.Err()
	}
}

// reserveFirst queues for n ahead of every waiter and returns a channel closed
// once n is held; there is no giving up. It is for the collector, which must
// neither wait behind the burst it collects after nor let more of it start.
func (g *memGate) reserveFirst(n int64) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	g.waiters.PushFront(w)
	g.grant()
	return w.ready
}

// release gives back n.
func (g *memGate) release(n int64) {
	g.mu.Lock()
	g.used -= n
	if g.used < 0 {
		g.mu.Unlock()
		panic("identity: memGate released more than held")
	}
	g.grant()
	g.mu.Unlock()
}

// grant hands room to waiters in order while the first one fits. g.mu is held.
func (g *memGate) grant() {
	for {
		front := g.waiters.Front()
		if front == nil {
			return
		}
		w := front.Value.(*gateWaiter)
		if g.size-g.used < w.n {
			return
		}
		g.used += w.n
		g.waiters.Remove(front)
		close(w.ready)
	}
}
