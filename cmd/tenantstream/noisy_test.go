package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Noisy neighbour, over real HTTP on the real server (SQLite, the App's
// wiring and default catalogue): tenant B (pro) reads at a steady 500 requests
// a second, alone and then while tenant A (free: 50 reads a second, burst 200)
// floods the same route from 32 keep-alive connections as fast as the server
// answers. B must get no 429 and its p99 must stay within 2x of its p99
// alone. The machine is small and shared, so the two phases alternate over
// several rounds and the medians of the rounds' p99s are compared; run with
// -v to see the figures. What keeps B's latency is the hold on A's refusals
// (decision 20): without it A's 32 connections got about 16,000 answers a
// second and B's p99 rose 5x.
func TestNoisyNeighbourDoesNotSlowAnotherTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of load")
	}
	l := startLiveApp(t, Config{})
	a := l.onboard(t, "noisy")
	b := liveTenant{Name: "quiet", Email: "admin@quiet.example", Password: "Corr3ct-Horse!"}
	var out struct {
		TenantID string `json:"tenant_id"`
	}
	l.must(t, http.StatusCreated, &out, http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": b.Name, "email": b.Email, "password": b.Password, "plan": "pro"})
	b.ID = out.TenantID
	aTok, bTok := l.login(t, a).AccessToken, l.login(t, b).AccessToken
	addr := strings.TrimPrefix(l.base, "http://")

	const (
		rounds   = 7
		phase    = 300 * time.Millisecond
		bEvery   = 2 * time.Millisecond // 500 requests a second
		flooders = 32
	)
	measureB := func() time.Duration {
		c := &rawConn{addr: addr}
		defer c.close()
		hdr := "Authorization: Bearer " + bTok + "\r\n"
		var lat []time.Duration
		next := time.Now()
		for end := next.Add(phase); time.Now().Before(end); {
			start := time.Now()
			require.NoError(t, c.do(http.MethodGet, "/tenants/"+b.ID+"/data", hdr, nil, http.StatusOK), "B is never refused")
			lat = append(lat, time.Since(start))
			next = next.Add(bEvery)
			time.Sleep(time.Until(next))
		}
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	var allowedA, refusedA atomic.Int64
	flood := func() (stop func()) {
		var stopped atomic.Bool
		var wg sync.WaitGroup
		hdr := "Authorization: Bearer " + aTok + "\r\n"
		for range flooders {
			wg.Go(func() {
				c := &rawConn{addr: addr}
				defer c.close()
				for !stopped.Load() {
					err := c.do(http.MethodGet, "/tenants/"+a.ID+"/data", hdr, nil, http.StatusTooManyRequests)
					switch {
					case err == nil:
						refusedA.Add(1)
					case strings.Contains(err.Error(), ": 200 "):
						allowedA.Add(1)
					default:
						assert.NoError(t, err)
						return
					}
				}
			})
		}
		// Measure past the limit: wait until A's burst is spent and every
		// connection has been refused (a burst is A's to use).
		for seen := refusedA.Load(); refusedA.Load() < seen+flooders; {
			time.Sleep(time.Millisecond)
		}
		return func() { stopped.Store(true); wg.Wait() }
	}

	measureB() // warm up: connections, caches, heap
	var alone, noisy []time.Duration
	for range rounds {
		alone = append(alone, measureB())
		stop := flood()
		noisy = append(noisy, measureB())
		stop()
	}
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ma, mn := median(alone), median(noisy)
	msg := fmt.Sprintf("B's p99 alone %v (rounds %v), with A flooding %v (rounds %v); A: %d allowed, %d refused (429)",
		ma, alone, mn, noisy, allowedA.Load(), refusedA.Load())
	t.Log(msg)
	assert.GreaterOrEqual(t, refusedA.Load(), int64(rounds*flooders), "A flooded past its limit on every connection in every round")
	if raceDetector {
		// Measured on the 2-core shared machine: without -race the ratio was
		// 1.3-1.9 (B's p99 about 1-2 ms); with it, 1.0-3.8 from run to run.
		t.Log("the race detector is on: the 2x bound is checked without -race only")
		return
	}
	assert.LessOrEqual(t, mn, 2*ma, msg)
}
