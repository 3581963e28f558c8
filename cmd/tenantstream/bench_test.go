package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchClient is an HTTP client that keeps a connection per concurrent caller,
// as a load balancer or a pooled SDK client would.
func benchClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns * 2
	tr.MaxIdleConnsPerHost = conns * 2
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// runClients spreads b.N calls of one over clients goroutines and reports the
// throughput (per second of unit) and p50/p99 latency.
func runClients(b *testing.B, clients int, unit string, perCall float64, one func(client, n int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				t0 := time.Now()
				if err := one(c, n); err != nil {
					errs <- err
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)*perCall/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

func send(c *http.Client, req *http.Request, want int) error {
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	return nil
}

// BenchmarkHTTPPutItem measures PUT /tenants/{id}/data/{item} end to end over
// loopback: token check, item load, append with fsync, projection feed, answer.
// Each of 64 clients writes its own 8 items in turn (issue 3: >= 10,000 req/s).
func BenchmarkHTTPPutItem(b *testing.B) {
	const clients, itemsPerClient = 64, 8
	tuneGC() // as tenantstream serve does
	app := startLiveApp(b, Config{})
	tn := app.onboard(b, "bench-put")
	tok := app.login(b, tn).AccessToken
	hc := benchClient(clients)
	body := []byte(`{"name":"widget","color":"blue","size":42,"tags":["a","b","c"],"nested":{"x":1.5,"y":true}}`)
	base := app.base + "/tenants/" + tn.ID + "/data/"
	runClients(b, clients, "req", 1, func(c, n int) error {
		req, err := http.NewRequest(http.MethodPut, base+"c"+strconv.Itoa(c)+"-i"+strconv.Itoa(n%itemsPerClient), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return send(hc, req, http.StatusOK)
	})
}

// BenchmarkHTTPUsageIngest measures POST /tenants/{id}/usage with batches of
// 1,000 new usage events from 1 and 8 clients (issue 3: >= 100,000 events/s).
func BenchmarkHTTPUsageIngest(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) { benchUsage(b, clients) })
	}
}

func benchUsage(b *testing.B, clients int) {
	tuneGC() // as tenantstream serve does
	const batch = 1000
	app := startLiveApp(b, Config{})
	tn := app.onboard(b, "bench-usage")
	tok := app.login(b, tn).AccessToken
	hc := benchClient(clients)
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	url := app.base + "/tenants/" + tn.ID + "/usage"
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // ids unique across b.N probes
	bufs := make([][]byte, clients)
	runClients(b, clients, "events", batch, func(c, n int) error {
		buf := append(bufs[c][:0], `{"events":[`...)
		for i := range batch {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"id":"`...)
			buf = append(buf, run...)
			buf = append(buf, '-')
			buf = strconv.AppendInt(buf, int64(n), 10)
			buf = append(buf, '-')
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, `","meter":"compute_seconds","quantity":"1.5","timestamp":"`...)
			buf = append(buf, ts...)
			buf = append(buf, `"}`...)
		}
		buf = append(buf, "]}"...)
		bufs[c] = buf
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(buf))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return send(hc, req, http.StatusAccepted)
	})
}
