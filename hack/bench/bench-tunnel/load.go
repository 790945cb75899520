package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var smallBody = make([]byte, 200)
var bigBody = make([]byte, 8<<20)

// newBackend serves /small (200 B), /big (8 MiB) and /huge (100 MB, for the stall) over
// TLS with HTTP/1.1 and HTTP/2.
func newBackend() *httptest.Server {
	_, _ = rand.Read(bigBody)
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(smallBody) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(bigBody)))
		_, _ = w.Write(bigBody)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i < 100; i++ {
			if _, err := w.Write(bigBody[:1e6]); err != nil {
				return
			}
		}
	})
	s := httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = true
	s.StartTLS()
	return s
}

// client speaks proto to the backend over connections from dial (TLS is the client's).
func client(backend *httptest.Server, proto string, dial func(context.Context) (net.Conn, error)) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	t := &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: "example.com"},
		MaxIdleConnsPerHost: 64,
	}
	if proto == "HTTP/2" {
		t.ForceAttemptHTTP2 = true
	} else {
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: t}
}

func fetch(c *http.Client, u string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

// smallRPS runs n GETs of /small over clients loops and returns requests per second, or 0
// when a request failed or took over 30 s.
func smallRPS(c *http.Client, base string, n, clients int) float64 {
	var wg sync.WaitGroup
	var failed atomic.Bool
	start := time.Now()
	for k := 0; k < clients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/clients && !failed.Load(); i++ {
				if _, err := fetch(c, base+"/small"); err != nil {
					failed.Store(true)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(n/clients+1) * 30 * time.Second):
		return 0
	}
	if failed.Load() {
		return 0
	}
	return float64(n/clients*clients) / time.Since(start).Seconds()
}

// bigMBps downloads /big n times, 4 at a time, and returns MB/s; stalled is true when a
// download did not finish within timeout. A stalled tunnel may not even let go of a
// cancelled request (remotedialer's back pressure blocks Close too): its downloads are
// abandoned, not waited for.
func bigMBps(c *http.Client, base string, n int, timeout time.Duration) (mbps float64, stalled bool) {
	var total, failed atomic.Int64
	done := make(chan struct{})
	sem := make(chan struct{}, 4)
	start := time.Now()
	go func() {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/big", nil)
				resp, err := c.Do(req)
				if err == nil {
					var got int64
					got, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					total.Add(got)
					if err == nil && got != int64(len(bigBody)) {
						err = fmt.Errorf("short body: %d bytes", got)
					}
				}
				if err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout * time.Duration(n/4+2)):
		return 0, true
	}
	if failed.Load() > 0 {
		return 0, true
	}
	return float64(total.Load()) / 1e6 / time.Since(start).Seconds(), false
}

func latencies(c *http.Client, base string, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		_, err := fetch(c, base+"/small")
		check(err)
		out = append(out, time.Since(start))
	}
	return out
}

// stallOne opens /huge, reads one byte and reads no more until stop.
func stallOne(c *http.Client, base string) (stop func()) {
	resp, err := c.Get(base + "/huge")
	check(err)
	_, err = resp.Body.Read(make([]byte, 1))
	check(err)
	time.Sleep(500 * time.Millisecond) // the stream's window fills
	return func() { resp.Body.Close() }
}
