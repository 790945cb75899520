// Command bench-tunnel measures the agent tunnel where the tunnel is the limit: a fast
// local TLS backend (200 B and 8 MiB bodies) reached straight, through our tunnel (tower
// proxy + agent, pkg/tunnel), and through github.com/rancher/remotedialer v0.6.1 (the
// tunnel of Rancher and Clusternet), each carrying the same raw TCP streams: the client's
// TLS, HTTP/1.1 or HTTP/2, goes end to end to the backend. All in one run, on loopback.
// A yardstick runs beside them: a bare TLS hop per stream (tls-hop), the plainest encrypted
// relay (it multiplexes nothing).
//
// It also measures GET latency beside one stalled 100 MB stream, and the tower proxy's
// memory per idle agent (a tower proxy in a process of its own, N agents connected).
// The user-facing half (kube-apiserver behind the tunnel) is bench-proxy --member=member2;
// `make bench-tunnel` runs both.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rancher/remotedialer"
	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/pkg/tunnel"
)

const cluster = "bench"

func main() {
	small := flag.Int("small", 20000, "Small GETs per route and protocol, split over the rounds.")
	rounds := flag.Int("rounds", 5, "Rounds that interleave the routes.")
	clients := flag.Int("clients", 8, "Concurrent clients of the small GETs.")
	big := flag.Int("big", 200, "8 MiB downloads per route and protocol (4 at a time), split over the rounds.")
	stallGets := flag.Int("stall-gets", 5000, "GETs measured without and with a stalled stream beside them, each, split over the rounds.")
	stallTimeout := flag.Duration("stall-timeout", 30*time.Second, "A download that takes longer counts as stalled.")
	only := flag.String("only", "", "Measure only this route's rows (direct, ours, remotedialer, tls-hop) and skip the rest: for quick comparisons.")
	protocols := flag.String("protocols", "HTTP/1.1,HTTP/2", "The client protocols measured, comma-separated.")
	idle := flag.Int("idle-agents", 1000, "Idle agents connected to one tower proxy for the memory figure.")
	agentPid := flag.String("agent-pid-file", "_output/local/pids/member2-tower-agent.pid", "Pid file of a running tower agent whose RSS is reported (make local-up's member2).")
	cpuProfile := flag.String("cpuprofile", "", "Write a CPU profile of the measurements to this file.")
	serveProxy := flag.Bool("serve-proxy", false, "Internal: run a tower proxy for the idle-agent figure until stdin closes.")
	flag.Parse()
	protos := strings.Split(*protocols, ",")
	for _, p := range protos {
		if p != "HTTP/1.1" && p != "HTTP/2" {
			check(fmt.Errorf("--protocols: %q is neither HTTP/1.1 nor HTTP/2", p))
		}
	}
	if *stallGets < *rounds {
		check(fmt.Errorf("--stall-gets must be at least --rounds (%d), not %d", *rounds, *stallGets))
	}
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	logrus.SetOutput(io.Discard)
	raiseFileLimit()
	if *serveProxy {
		runProxy()
		return
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	backend := newBackend()
	defer backend.Close()
	ours := newOurs(backend)
	defer ours.close()
	rd := newRemotedialer(backend)
	defer rd.close()
	hop := newTLSHop(backend)
	defer hop.close()

	type route struct {
		name string
		dial func(ctx context.Context) (net.Conn, error)
	}
	routes := []route{
		{"direct", func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", backend.Listener.Addr().String())
		}},
		{"ours", ours.dial},
		{"remotedialer", rd.dial},
		{"tls-hop", hop.dial},
	}
	fmt.Printf("backend %s; %d small GETs x %d clients and %d x 8 MiB (4 at a time) per row, over %d interleaved rounds\n\n",
		backend.URL, *small, *clients, *big, *rounds)
	// Per protocol and route: each round's req/s and MB/s. Rounds interleave the routes,
	// so that the machine's drifting load falls on all alike; ratios are the median of
	// each round's ratio. A route that stalls once is out for the rest of the run.
	type key struct{ proto, route string }
	rps, mbps := map[key][]float64{}, map[key][]float64{}
	stalledAt := map[key]bool{}
	clientsOf := map[key]*http.Client{}
	for round := 0; round < *rounds; round++ {
		for _, proto := range protos {
			for _, r := range routes {
				k := key{proto, r.name}
				if (*only != "" && !strings.Contains(*only, r.name)) || stalledAt[k] {
					continue
				}
				c := clientsOf[k]
				if c == nil {
					c = client(backend, proto, r.dial)
					clientsOf[k] = c
					smallRPS(c, backend.URL, 4**clients, *clients) // warm-up: connections and TLS sessions
				}
				// Each phase starts from a collected heap, not the last one's garbage.
				runtime.GC()
				x := smallRPS(c, backend.URL, *small / *rounds, *clients)
				runtime.GC()
				y, stalled := bigMBps(c, backend.URL, max(4, *big / *rounds), *stallTimeout)
				if x == 0 || stalled {
					stalledAt[k] = true
				}
				rps[k], mbps[k] = append(rps[k], x), append(mbps[k], y)
			}
		}
	}
	fmt.Println("| protocol | route | small GETs req/s (median) | 8 MiB MB/s (median) |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, proto := range protos {
		for _, r := range routes {
			k := key{proto, r.name}
			if len(rps[k]) == 0 {
				continue
			}
			small, big := fmt.Sprintf("%.0f", median(rps[k])), fmt.Sprintf("%.0f", median(mbps[k]))
			if stalledAt[k] {
				small, big = "failed", fmt.Sprintf("stalled (a request made no progress within %s)", *stallTimeout)
			}
			fmt.Printf("| %s | %s | %s | %s |\n", proto, r.name, small, big)
		}
	}
	if *only != "" {
		pprof.StopCPUProfile()
		os.Exit(0)
	}
	fmt.Println()
	fmt.Println("| protocol | ours / remotedialer req/s | ours / remotedialer MB/s | ours / direct req/s | ours / direct MB/s |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, proto := range protos {
		o, r, d := key{proto, "ours"}, key{proto, "remotedialer"}, key{proto, "direct"}
		vs := func(a, b key, m map[key][]float64) string {
			if stalledAt[a] {
				return "n/a (ours stalled)"
			}
			if stalledAt[b] {
				return "n/a (" + b.route + " stalled)"
			}
			return fmt.Sprintf("%.2fx", medianRatio(m[a], m[b]))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", proto, vs(o, r, rps), vs(o, r, mbps), vs(o, d, rps), vs(o, d, mbps))
	}
	// The ceiling of any relay on this machine: one that cost nothing would move as much as
	// direct does, so ours / remotedialer can be at most direct / remotedialer.
	if d, r := (key{"HTTP/1.1", "direct"}), (key{"HTTP/1.1", "remotedialer"}); len(rps[r]) > 0 && !stalledAt[r] {
		fmt.Printf("\nHTTP/1.1 ceiling (a relay that cost nothing, direct / remotedialer): %.2fx req/s, %.2fx MB/s\n",
			medianRatio(rps[d], rps[r]), medianRatio(mbps[d], mbps[r]))
		// What the plainest encrypted relay reaches: a second encryption and an extra TCP
		// hop per byte, as every tunnel pays, and no multiplexing.
		if h := (key{"HTTP/1.1", "tls-hop"}); len(rps[h]) > 0 && !stalledAt[h] {
			fmt.Printf("HTTP/1.1 bare TLS hop per stream (tls-hop / remotedialer): %.2fx req/s, %.2fx MB/s; ours / tls-hop: %.2fx req/s, %.2fx MB/s\n",
				medianRatio(rps[h], rps[r]), medianRatio(mbps[h], mbps[r]), medianRatio(rps[key{"HTTP/1.1", "ours"}], rps[h]), medianRatio(mbps[key{"HTTP/1.1", "ours"}], mbps[h]))
		}
	}

	// One stalled stream beside the small GETs, through our tunnel. Rounds alternate
	// without and with it, so that the machine's drift falls on both alike (a p99 of one
	// block after another moved by half from run to run).
	fmt.Println()
	c := client(backend, "HTTP/1.1", ours.dial)
	var without, with []time.Duration
	for round := 0; round < *rounds; round++ {
		without = append(without, latencies(c, backend.URL, *stallGets / *rounds)...)
		stop := stallOne(c, backend.URL)
		with = append(with, latencies(c, backend.URL, *stallGets / *rounds)...)
		stop()
	}
	fmt.Printf("GET p99 through our tunnel (%d GETs each, in %d rounds): %s alone, %s beside a stalled 100 MB stream (%.2fx); p50 %s and %s\n",
		len(without), *rounds, ms(p(without, 99)), ms(p(with, 99)), float64(p(with, 99))/float64(p(without, 99)), ms(p(without, 50)), ms(p(with, 50)))

	if *idle > 0 {
		perAgent, total, err := idleAgents(*idle)
		if err != nil {
			fmt.Printf("idle agents: %v\n", err)
		} else {
			fmt.Printf("%d idle agents on one tower proxy: its RSS grew %.1f MiB, %.1f KiB per agent\n", *idle, float64(total)/(1<<20), perAgent/1024)
		}
	}
	if rss, err := rssOfPidFile(*agentPid); err == nil {
		hwm, _ := statusOfPidFile(*agentPid, "VmHWM:")
		fmt.Printf("tower agent of make local-up (%s): RSS %.1f MiB now, %.1f MiB at its peak\n", *agentPid, float64(rss)/(1<<20), float64(hwm)/(1<<20))
	} else {
		fmt.Printf("tower agent RSS: not measured (%v; run make local-up)\n", err)
	}
	// Not the deferred closes: a stalled remotedialer connection blocks its Close forever.
	os.Exit(0)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRatio is the median of a[k]/b[k] over the rounds both have.
func medianRatio(a, b []float64) float64 {
	n := min(len(a), len(b))
	r := make([]float64, n)
	for k := 0; k < n; k++ {
		r[k] = a[k] / b[k]
	}
	return median(r)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-tunnel:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft open-files limit to the hard one: a thousand agents need
// two thousand sockets between them.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

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

func p(all []time.Duration, pct int) time.Duration {
	s := append([]time.Duration(nil), all...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*pct/100]
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

// ours is a tower proxy and an agent in this process; the agent forwards each stream to
// the backend as raw TCP. Streams are opened in the tower proxy's process (Server.Dial),
// as remotedialer's are (Server.Dialer): the tunnel alone is measured.
type ours struct {
	proxy  *httptest.Server
	server *tunnel.Server
	stop   func()
}

func newOurs(backend *httptest.Server) *ours {
	token, err := tunnel.NewToken()
	check(err)
	hash := tunnel.HashToken(token)
	server := tunnel.NewServer(func(string) (string, bool) { return hash, true }, func(*http.Request) (string, error) { return "bench", nil })
	proxy := httptest.NewUnstartedServer(server)
	proxy.TLS = &tls.Config{DynamicRecordSizingDisabled: true} // as tower proxy serves
	proxy.Listener = tunnel.BatchListener(proxy.Listener)
	proxy.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(proxy.Certificate())
	tokenFile := filepath.Join(os.TempDir(), fmt.Sprintf("bench-tunnel-token-%d", os.Getpid()))
	check(os.WriteFile(tokenFile, []byte(token), 0o600))
	defer os.Remove(tokenFile)
	addr := backend.Listener.Addr().String()
	agent := &tunnel.Agent{Cluster: cluster, TokenFile: tokenFile, Servers: []string{proxy.URL}, RootCAs: roots,
		ServeStreams: func(l net.Listener) error { return forwardRaw(l, addr) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = agent.Run(ctx); close(done) }()
	for !agent.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	return &ours{proxy: proxy, server: server, stop: func() { cancel(); <-done }}
}

func (o *ours) dial(context.Context) (net.Conn, error) { return o.server.Dial(cluster) }
func (o *ours) close()                                 { o.stop(); o.proxy.Close() }

// forwardRaw splices each stream to addr, as remotedialer's client dials for each of its
// connections.
func forwardRaw(l net.Listener, addr string) error {
	for {
		stream, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer stream.Close()
			backend, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer backend.Close()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(backend, stream)
				_ = backend.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(stream, backend)
			_ = stream.Close()
			<-done
		}()
	}
}

// tlsHop is the plainest encrypted relay, as a yardstick: each stream gets a TLS connection
// of its own to a relay end in this process, which dials the backend and copies. So every
// byte crosses one more loopback TCP connection and is encrypted once more, as in a
// tunnel, but nothing is multiplexed, framed or batched.
type tlsHop struct {
	l    net.Listener
	addr string
	cfg  *tls.Config
}

func newTLSHop(backend *httptest.Server) *tlsHop {
	// The relay end serves the backend's own certificate (httptest's, valid for 127.0.0.1).
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	l := tls.NewListener(raw, &tls.Config{Certificates: backend.TLS.Certificates, DynamicRecordSizingDisabled: true})
	go func() { _ = forwardRaw(l, backend.Listener.Addr().String()) }()
	return &tlsHop{l: l, addr: raw.Addr().String(), cfg: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", DynamicRecordSizingDisabled: true}}
}

func (h *tlsHop) dial(ctx context.Context) (net.Conn, error) {
	return (&tls.Dialer{Config: h.cfg}).DialContext(ctx, "tcp", h.addr)
}
func (h *tlsHop) close() { _ = h.l.Close() }

// rd is remotedialer with its own server and client in this process, as Rancher runs it.
type rd struct {
	srv    *httptest.Server
	server *remotedialer.Server
	stop   func()
	addr   string
}

func newRemotedialer(backend *httptest.Server) *rd {
	server := remotedialer.New(func(req *http.Request) (string, bool, error) { return cluster, true, nil }, remotedialer.DefaultErrorWriter)
	srv := httptest.NewUnstartedServer(server)
	srv.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	wsURL := "wss" + strings.TrimPrefix(srv.URL, "https") + "/connect"
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = remotedialer.ClientConnect(ctx, wsURL, http.Header{}, &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}},
				func(string, string) bool { return true }, nil)
		}
	}()
	for !server.HasSession(cluster) {
		time.Sleep(10 * time.Millisecond)
	}
	return &rd{srv: srv, server: server, stop: func() { cancel(); <-done }, addr: backend.Listener.Addr().String()}
}

func (r *rd) dial(ctx context.Context) (net.Conn, error) {
	return r.server.Dialer(cluster)(ctx, "tcp", r.addr)
}
func (r *rd) close() { r.srv.Close(); r.stop() }

// runProxy is the child process of the idle-agent figure: a tower proxy that accepts any
// cluster with one token. It prints its URL and CA and serves until stdin closes.
func runProxy() {
	token := os.Getenv("BENCH_TUNNEL_TOKEN")
	hash := tunnel.HashToken(token)
	server := tunnel.NewServer(func(string) (string, bool) { return hash, true }, func(*http.Request) (string, error) {
		return "", errors.New("no dialing here")
	})
	srv := httptest.NewUnstartedServer(server)
	srv.StartTLS()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fmt.Printf("%s\n%s\n", srv.URL, base64.StdEncoding.EncodeToString(ca))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// idleAgents connects n agents (in this process) to a tower proxy in a child process and
// returns the child's RSS growth per agent.
func idleAgents(n int) (perAgent float64, total int64, err error) {
	token, err := tunnel.NewToken()
	if err != nil {
		return 0, 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(self, "--serve-proxy")
	cmd.Env = append(os.Environ(), "BENCH_TUNNEL_TOKEN="+token)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	if len(got) < 2 {
		return 0, 0, errors.New("the tower proxy child did not start")
	}
	ca, _ := base64.StdEncoding.DecodeString(got[1])
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	tokenFile := filepath.Join(os.TempDir(), fmt.Sprintf("bench-tunnel-idle-%d", os.Getpid()))
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return 0, 0, err
	}
	defer os.Remove(tokenFile)
	settle := func() int64 {
		time.Sleep(2 * time.Second)
		rss, _ := rssOf(cmd.Process.Pid)
		return rss
	}
	// One agent first, so the baseline includes the server's own warm-up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents := make([]*tunnel.Agent, n+1)
	for i := range agents {
		agents[i] = &tunnel.Agent{Cluster: fmt.Sprintf("idle-%d", i), TokenFile: tokenFile, Servers: []string{got[0]}, RootCAs: roots,
			Handler: http.NotFoundHandler(), Backoff: tunnel.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	}
	start := func(a *tunnel.Agent) { go func() { _ = a.Run(ctx) }() }
	start(agents[0])
	for !agents[0].Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	before := settle()
	for _, a := range agents[1:] {
		start(a)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up := 0
		for _, a := range agents[1:] {
			if a.Connected() {
				up++
			}
		}
		if up == n {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("only %d of %d agents connected", up, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := settle()
	return float64(after-before) / float64(n), after - before, nil
}

func rssOfPidFile(file string) (int64, error) { return statusOfPidFile(file, "VmRSS:") }

// statusOfPidFile reads a size field of /proc/<pid>/status (VmRSS:, VmHWM:) of the process
// in a pid file.
func statusOfPidFile(file, field string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, err
	}
	return statusOf(pid, field)
}

// rssOf reads VmRSS of a process.
func rssOf(pid int) (int64, error) { return statusOf(pid, "VmRSS:") }

func statusOf(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
