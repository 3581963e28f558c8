package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
// Each of 64 clients writes its own 8 items in turn (target: >= 10,000 req/s).
//
// The load generator shares the machine's cores with the server, so its cost is
// charged to the server's figure. client=net-http drives the server with Go's
// http.Client (about a fifth of the process's CPU on two cores); client=raw with
// a minimal HTTP/1.1 keep-alive client, as wrk-style load generators do, which
// measures the server more closely. Both check every answer's status and read
// its whole body.
func BenchmarkHTTPPutItem(b *testing.B) {
	const clients, itemsPerClient = 64, 8
	body := []byte(`{"name":"widget","color":"blue","size":42,"tags":["a","b","c"],"nested":{"x":1.5,"y":true}}`)
	setup := func(b *testing.B) (*liveApp, string, string) {
		tuneGC()                                                 // as tenantstream serve does
		app := startLiveApp(b, Config{NoTenantRateLimits: true}) // measure the server, not a plan
		tn := app.onboard(b, "bench-put")
		return app, app.login(b, tn).AccessToken, "/tenants/" + tn.ID + "/data/"
	}
	b.Run("client=net-http", func(b *testing.B) {
		app, tok, path := setup(b)
		hc := benchClient(clients)
		runClients(b, clients, "req", 1, func(c, n int) error {
			req, err := http.NewRequest(http.MethodPut, app.base+path+"c"+strconv.Itoa(c)+"-i"+strconv.Itoa(n%itemsPerClient), bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			return send(hc, req, http.StatusOK)
		})
	})
	b.Run("client=raw", func(b *testing.B) {
		app, tok, path := setup(b)
		conns := make([]*rawConn, clients)
		b.Cleanup(func() {
			for _, c := range conns {
				if c != nil {
					c.close()
				}
			}
		})
		hdr := "Authorization: Bearer " + tok + "\r\nContent-Type: application/json\r\n"
		runClients(b, clients, "req", 1, func(c, n int) error {
			if conns[c] == nil {
				conns[c] = &rawConn{addr: strings.TrimPrefix(app.base, "http://")}
			}
			return conns[c].do(http.MethodPut, path+"c"+strconv.Itoa(c)+"-i"+strconv.Itoa(n%itemsPerClient), hdr, body, http.StatusOK)
		})
	})
}

// rawConn is a minimal HTTP/1.1 keep-alive client for load generation: it writes
// a request, reads the status line, the headers and a Content-Length body, and
// reconnects when the server closes. One caller at a time.
type rawConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
	w    []byte
	body []byte
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *rawConn) do(method, path, headers string, body []byte, want int) error {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	w := append(c.w[:0], method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, c.addr...)
	w = append(w, "\r\n"...)
	w = append(w, headers...)
	w = append(w, "Content-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	c.w = w
	if _, err := c.conn.Write(w); err != nil {
		c.close()
		return err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		c.close()
		return fmt.Errorf("read status: %w", err)
	}
	code := 0
	if len(status) >= 12 && bytes.HasPrefix(status, []byte("HTTP/1.1 ")) {
		code, _ = strconv.Atoi(string(status[9:12]))
	}
	length, keep := -1, true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			c.close()
			return fmt.Errorf("read headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				c.close()
				return fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			c.close()
			return fmt.Errorf("unsupported Transfer-Encoding %q", value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		c.close()
		return errors.New("answer without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		c.close()
		return fmt.Errorf("read body: %w", err)
	}
	if !keep {
		c.close()
	}
	if code != want {
		return fmt.Errorf("%s %s: %d %s", method, path, code, c.body)
	}
	return nil
}

// BenchmarkHTTPUsageIngest measures POST /tenants/{id}/usage with batches of
// 1,000 new usage events from 1 and 8 clients (target: >= 100,000 events/s).
func BenchmarkHTTPUsageIngest(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) { benchUsage(b, clients) })
	}
}

func benchUsage(b *testing.B, clients int) {
	tuneGC() // as tenantstream serve does
	const batch = 1000
	app := startLiveApp(b, Config{NoTenantRateLimits: true}) // measure the server, not a plan
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
