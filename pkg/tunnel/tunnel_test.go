package tunnel

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/pkg/agenttoken"
)

// End-to-end tests of the three roles together: agents, a tower proxy and dialers on
// loopback.

// fixture is a tower proxy on loopback with a token per cluster, and helpers to run agents
// against it and dial through it.
type fixture struct {
	t      *testing.T
	server *Server
	http   *httptest.Server
	roots  *x509.CertPool

	mu     sync.Mutex
	hashes map[string]string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, hashes: map[string]string{}}
	f.server = NewServer(func(cluster string) (string, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		h, ok := f.hashes[cluster]
		return h, ok
	}, func(req *http.Request) (string, error) { return "test", nil })
	f.http = httptest.NewUnstartedServer(f.server)
	f.http.Listener = BatchListener(f.http.Listener) // as tower proxy listens
	f.http.StartTLS()
	t.Cleanup(f.http.Close)
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.http.Certificate())
	return f
}

// token issues a token for cluster and returns the file an agent reads it from.
func (f *fixture) token(cluster string) string {
	tok, err := agenttoken.New()
	require.NoError(f.t, err)
	f.mu.Lock()
	f.hashes[cluster] = agenttoken.Hash(tok)
	f.mu.Unlock()
	file := filepath.Join(f.t.TempDir(), "token")
	require.NoError(f.t, os.WriteFile(file, []byte(tok+"\n"), 0o600))
	return file
}

func (f *fixture) agent(cluster, tokenFile string, h http.Handler) *Agent {
	return &Agent{Cluster: cluster, TokenFile: tokenFile, Servers: []string{f.http.URL}, RootCAs: f.roots, Handler: h,
		Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}}
}

// run runs a until the returned stop is called.
func run(a *Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func (f *fixture) dialer() *Dialer {
	u, _ := url.Parse(f.http.URL)
	cfg := f.http.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return &Dialer{Servers: []*url.URL{u}, TLS: cfg}
}

// client speaks HTTP to cluster through the tunnel, as cluster-apiserver does.
func (f *fixture) client(cluster string) *http.Client {
	d := f.dialer()
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialCluster(ctx, cluster)
	}}}
}

func waitConnected(t *testing.T, s *Server, cluster string) {
	t.Helper()
	require.Eventually(t, func() bool { return s.newest(cluster) != nil }, 5*time.Second, 10*time.Millisecond, "agent of %s never connected", cluster)
}

func hello(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s auth=%q", name, r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"))
	})
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestRequestsReachTheirClusterOnly(t *testing.T) {
	f := newFixture(t)
	defer run(f.agent("a", f.token("a"), hello("a")))()
	defer run(f.agent("b", f.token("b"), hello("b")))()
	waitConnected(t, f.server, "a")
	waitConnected(t, f.server, "b")

	code, body := get(t, f.client("a"), "http://a/api/v1/pods?watch=1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, `a GET /api/v1/pods?watch=1 auth=""`, body)
	// The URL's host does not choose the cluster: the stream does.
	_, body = get(t, f.client("b"), "http://a/version")
	assert.True(t, strings.HasPrefix(body, "b GET /version"), body)

	_, err := f.dialer().DialCluster(context.Background(), "c")
	assert.ErrorAs(t, err, new(ErrAgentNotConnected))
	assert.Equal(t, []string{"a", "b"}, f.server.Connected())
}

// A dialer that half-closes after its request still gets the whole answer: the tower
// proxy splices both directions to their end (it stopped at the first, and the answer was
// lost in most runs).
func TestHalfClosedStreamGetsItsAnswer(t *testing.T) {
	f := newFixture(t)
	defer run(f.agent("a", f.token("a"), hello("a")))()
	waitConnected(t, f.server, "a")
	for range 5 {
		conn, err := f.dialer().DialCluster(context.Background(), "a")
		require.NoError(t, err)
		_, err = io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, conn.(interface{ CloseWrite() error }).CloseWrite())
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		require.NoError(t, err)
		assert.Contains(t, string(b), "a GET /x")
		_ = conn.Close()
	}
}

func TestTokenIsBoundToItsCluster(t *testing.T) {
	f := newFixture(t)
	tokenA := f.token("a")
	f.token("b")
	// A's token presented as b: refused, with a message that says why.
	thief := f.agent("b", tokenA, hello("thief"))
	u, _ := url.Parse(f.http.URL)
	_, err := thief.connect(context.Background(), u, u.Host)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `not valid for cluster "b"`)
	// Not a token at all.
	junk := filepath.Join(t.TempDir(), "junk")
	require.NoError(t, os.WriteFile(junk, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	_, err = f.agent("a", junk, hello("a")).connect(context.Background(), u, u.Host)
	assert.ErrorContains(t, err, "not a token made by join")
	assert.Empty(t, f.server.Connected())
}

func TestRotatingTheTokenClosesTheTunnelAtOnce(t *testing.T) {
	f := newFixture(t)
	defer run(f.agent("a", f.token("a"), hello("a")))()
	waitConnected(t, f.server, "a")
	session := f.server.newest("a").session

	f.token("a") // a new token; the agent still holds the old one
	f.server.Revalidate("a")
	select {
	case <-session.CloseChan():
	case <-time.After(time.Second):
		t.Fatal("the tunnel outlived its token")
	}
	// The agent keeps trying with the old token and is refused each time.
	time.Sleep(300 * time.Millisecond)
	assert.Nil(t, f.server.newest("a"))
	_, err := f.dialer().DialCluster(context.Background(), "a")
	assert.ErrorAs(t, err, new(ErrAgentNotConnected))
}

func TestAStalledStreamDoesNotSlowTheOthers(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/small", hello("a"))
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for i := 0; i < 100; i++ { // 100 MiB, far beyond every window
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	defer run(f.agent("a", f.token("a"), mux))()
	waitConnected(t, f.server, "a")
	c := f.client("a")
	resp, err := c.Get("http://a/big")
	require.NoError(t, err)
	defer resp.Body.Close()
	// Read one byte and stall: the stream's window fills and stays full.
	_, err = resp.Body.Read(make([]byte, 1))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a/small", nil)
		r, err := c.Do(req)
		require.NoError(t, err, "request %d beside a stalled stream", i)
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		cancel()
	}
}

func TestNoLeaksAfterAThousandCycles(t *testing.T) {
	f := newFixture(t)
	token := f.token("a")
	c := f.client("a")
	cycle := func() {
		stop := run(f.agent("a", token, hello("a")))
		waitConnected(t, f.server, "a")
		code, _ := get(t, c, "http://a/x")
		require.Equal(t, http.StatusOK, code)
		stop()
		require.Eventually(t, func() bool { return f.server.newest("a") == nil }, 5*time.Second, time.Millisecond)
	}
	cycle()
	c.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for i := 0; i < 1000; i++ {
		cycle()
	}
	c.CloseIdleConnections()
	// Closed connections take a moment to unwind on both sides.
	var g, fd int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if g, fd = runtime.NumGoroutine(), openFDs(t); g <= goroutines+5 && fd <= fds+5 {
			break
		}
	}
	t.Logf("after 1,000 connect/disconnect cycles: goroutines %d -> %d, open files %d -> %d", goroutines, g, fds, fd)
	assert.LessOrEqual(t, g, goroutines+5, "goroutines leaked")
	assert.LessOrEqual(t, fd, fds+5, "file descriptors leaked")
	assert.Empty(t, f.server.Connected())
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// TestShutdownDrainsThenCloses: a stopping tower proxy tells its agents to go, lets a
// stream in flight run for the grace period, then closes the tunnels.
func TestShutdownDrainsThenCloses(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	defer run(f.agent("a", f.token("a"), mux))()
	waitConnected(t, f.server, "a")
	resp, err := f.client("a").Get("http://a/slow")
	require.NoError(t, err)
	defer resp.Body.Close()

	const grace = 300 * time.Millisecond
	start := time.Now()
	f.server.Shutdown(context.Background(), grace)
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, grace, "the stream in flight had its grace period")
	assert.Less(t, took, grace+2*time.Second)
	_, err = io.ReadAll(resp.Body)
	assert.Error(t, err, "the stream still open after the grace period is cut")
	// The agent, told to go, is not taken back by a stopping proxy.
	time.Sleep(200 * time.Millisecond)
	assert.Empty(t, f.server.Connected())
}
