package tunnel

// Fuzz test of what the tower proxy reads from the network: an agent's handshake and a
// dialer's CONNECT. `go test` runs the seeds (f.Add below and
// testdata/fuzz/FuzzAgentHandshake/); `make fuzz` fuzzes it. Nothing listens: the proxy is
// driven through ServeHTTP on a fake connection.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"kubesphere.io/multicluster/pkg/agenttoken"
)

// Two join tokens of the right shape, fixed so that seeds can carry them: 32 bytes of 0xa1
// and of 0xb2, in unpadded base64url (pkg/agenttoken's fuzz test uses the same two).
const (
	fuzzTokenMember1 = "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaE"
	fuzzTokenMember2 = "srKysrKysrKysrKysrKysrKysrKysrKysrKysrKysrI"
	// fuzzDialerBearer is the only credential the fuzzed tower proxy lets open streams.
	fuzzDialerBearer = "dialer-secret"
)

// fakeConn is the connection an agent's or a dialer's request was read from, once the
// tower proxy hijacked it: what the proxy writes is kept, and reads wait until the
// connection is closed (the client sends nothing more, and never half-closes).
type fakeConn struct {
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func newFakeConn() *fakeConn { return &fakeConn{closed: make(chan struct{})} }

func (c *fakeConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, io.EOF
}

func (c *fakeConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *fakeConn) Close() error        { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func (c *fakeConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

// hijackRecorder is a ResponseRecorder the tower proxy can take the connection of.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     *fakeConn
	hijacked bool
}

func (r *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.hijacked = true
	return r.conn, bufio.NewReadWriter(bufio.NewReader(r.conn), bufio.NewWriter(r.conn)), nil
}

// handshakeHarness is a tower proxy that knows member1's and member2's tokens (and
// "revoked", whose token is gone), with a live tunnel from member1 whose agent answers
// every stream with its name.
type handshakeHarness struct {
	s      *Server
	tokens map[string]string
	// streams counts the streams member1's agent was given.
	mu      sync.Mutex
	streams int
}

func newHandshakeHarness(tb testing.TB) *handshakeHarness {
	h := &handshakeHarness{tokens: map[string]string{"member1": fuzzTokenMember1, "member2": fuzzTokenMember2}}
	hashes := map[string]string{}
	for c, tok := range h.tokens {
		hashes[c] = agenttoken.Hash(tok)
	}
	h.s = NewServer(func(cluster string) (string, bool) {
		hash, ok := hashes[cluster]
		return hash, ok
	}, func(req *http.Request) (string, error) {
		if req.Header.Get("Authorization") != "Bearer "+fuzzDialerBearer {
			return "", errUnauthorizedDialer
		}
		return "dialer", nil
	})

	towerSide, agentSide := net.Pipe()
	session, err := yamux.Client(newFrameWriter(towerSide), muxConfig())
	if err != nil {
		tb.Fatal(err)
	}
	agent, err := yamux.Server(agentSide, muxConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = session.Close(); _ = agent.Close() })
	go func() {
		for {
			st, err := agent.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.streams++
			h.mu.Unlock()
			// Answer first, then read: the fake dialer never half-closes (its reads wait
			// until the connection is closed), so an agent that read to the end before
			// answering would wait forever.
			go func() {
				_, _ = st.Write([]byte("member1"))
				_ = st.Close()
				_, _ = io.Copy(io.Discard, st)
			}()
		}
	}()
	if !h.s.add(&agentTunnel{cluster: "member1", tokenHash: hashes["member1"], session: session, remote: "127.0.0.1:1", since: time.Now()}) {
		tb.Fatal("the tower proxy refused member1's tunnel")
	}
	return h
}

var errUnauthorizedDialer = apierrors.NewUnauthorized("a client certificate or a service account token is required to open streams")

// tunnelCounts are the tower proxy's tunnels by cluster.
func (h *handshakeHarness) tunnelCounts() map[string]int {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	out := map[string]int{}
	for c, list := range h.s.tunnels {
		out[c] = len(list)
	}
	return out
}

func (h *handshakeHarness) streamCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams
}

// FuzzAgentHandshake drives the tower proxy with arbitrary request lines, Authorization and
// Upgrade headers. It never panics; it switches protocols (101, and a tunnel registered
// under the path's cluster) exactly when the request is a GET of /tunnels/<cluster> whose
// bearer token is the one whose hash is stored for that very cluster, with the tunnel's
// Upgrade; a CONNECT opens a stream only for an authorized dialer, and only on the tunnel
// of the cluster its host names; every other answer is a Kubernetes Status in JSON.
func FuzzAgentHandshake(f *testing.F) {
	bearer1, bearer2 := "Bearer "+fuzzTokenMember1, "Bearer "+fuzzTokenMember2
	for _, s := range []struct{ method, target, authz, upgrade string }{
		{"GET", "/tunnels/member1", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1", bearer1, strings.ToUpper(UpgradeProtocol)},
		{"GET", "/tunnels/member2", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1", bearer2, UpgradeProtocol},
		{"GET", "/tunnels/revoked", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1", bearer1, "websocket"},
		{"GET", "/tunnels/member1", bearer1, ""},
		{"GET", "/tunnels/member1", "bearer " + fuzzTokenMember1, UpgradeProtocol},
		{"GET", "/tunnels/member1", "Bearer  " + fuzzTokenMember1, UpgradeProtocol},
		{"GET", "/tunnels/member1", bearer1 + "=", UpgradeProtocol},
		{"GET", "/tunnels/member1", "Bearer oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaF", UpgradeProtocol},
		{"GET", "/tunnels/member1", "Basic bWVtYmVyMTp4", UpgradeProtocol},
		{"GET", "/tunnels/member%31", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1/", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1/../member2", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/../tunnels/member1", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member2%2f..%2fmember1", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/Member1", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1?cluster=member2", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1;member2", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/" + strings.Repeat("a", 64), bearer1, UpgradeProtocol},
		{"GET", "/tunnels/ｍember1", bearer1, UpgradeProtocol},
		{"GET", "http://tower/tunnels/member1", bearer1, UpgradeProtocol},
		{"GET", "/tunnels/member1", bearer1 + "\r\nAuthorization: " + bearer2, UpgradeProtocol},
		{"POST", "/tunnels/member1", bearer1, UpgradeProtocol},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/", "", ""},
		{"CONNECT", "member1:443", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "member1", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "[member1]:443", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "member2:443", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "MEMBER1:443", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "member1.:443", "Bearer " + fuzzDialerBearer, ""},
		{"CONNECT", "member1:443", bearer1, ""},
		{"CONNECT", "member1:443", "", ""},
		{"CONNECT", "/tunnels/member1", "Bearer " + fuzzDialerBearer, ""},
	} {
		f.Add(s.method, s.target, s.authz, s.upgrade)
	}
	h := newHandshakeHarness(f)
	f.Fuzz(func(t *testing.T, method, target, authz, upgrade string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: tower.example\r\nConnection: Upgrade\r\nUpgrade: " + upgrade +
			"\r\nAuthorization: " + authz + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler
		}
		req.RemoteAddr = "127.0.0.1:40000"
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: newFakeConn()}
		before, streamsBefore := h.tunnelCounts(), h.streamCount()
		h.s.ServeHTTP(w, req)
		after := h.tunnelCounts()

		if req.Method == http.MethodConnect {
			cluster := req.Host
			if host, _, err := net.SplitHostPort(req.Host); err == nil {
				cluster = host
			}
			authorized := req.Header.Get("Authorization") == "Bearer "+fuzzDialerBearer
			opened := h.streamCount() - streamsBefore
			if !authorized || cluster != "member1" {
				if w.hijacked || opened != 0 {
					t.Fatalf("CONNECT %q (host %q, authorized %v) opened a stream on member1's tunnel", target, req.Host, authorized)
				}
				checkStatus(t, target, w.ResponseRecorder)
				if !authorized && w.Code != http.StatusUnauthorized || authorized && w.Code != http.StatusServiceUnavailable {
					t.Fatalf("CONNECT %q (authorized %v): answered %d", target, authorized, w.Code)
				}
				return
			}
			if !w.hijacked || opened != 1 {
				t.Fatalf("CONNECT %q by an authorized dialer: hijacked %v, %d streams opened", target, w.hijacked, opened)
			}
			br := bufio.NewReader(bytes.NewReader(w.conn.written()))
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT %q: the answer %q is not a 200", target, w.conn.written())
			}
			if rest, _ := io.ReadAll(br); string(rest) != "member1" {
				t.Fatalf("CONNECT %q: the stream carried %q, not member1's agent's answer", target, rest)
			}
			return
		}

		cluster, onAgentPath := strings.CutPrefix(req.URL.Path, AgentPathPrefix)
		onAgentPath = onAgentPath && req.Method == http.MethodGet
		tok, known := h.tokens[cluster]
		want101 := onAgentPath && known && req.Header.Get("Authorization") == "Bearer "+tok &&
			strings.EqualFold(req.Header.Get("Upgrade"), UpgradeProtocol)
		if w.hijacked != want101 {
			t.Fatalf("%s %q (Authorization %q, Upgrade %q): took over the connection %v, want %v",
				req.Method, target, req.Header.Get("Authorization"), req.Header.Get("Upgrade"), w.hijacked, want101)
		}
		if want101 {
			if !bytes.HasPrefix(w.conn.written(), []byte("HTTP/1.1 101 Switching Protocols\r\n")) {
				t.Fatalf("%q: took over the connection but wrote %q", target, w.conn.written())
			}
			for c := range h.tokens {
				if want := before[c] + map[bool]int{true: 1}[c == cluster]; after[c] != want {
					t.Fatalf("%q: %d tunnels of %q after the handshake, want %d", target, after[c], c, want)
				}
			}
			h.closeNewest(t, cluster, before[cluster])
			return
		}
		for c, n := range after {
			if n != before[c] {
				t.Fatalf("%q: a refused handshake changed %q's tunnels from %d to %d", target, c, before[c], n)
			}
		}
		if req.Method == http.MethodGet && (req.URL.Path == "/healthz" || req.URL.Path == "/readyz") {
			if w.Code != http.StatusOK || w.Body.String() != "ok" {
				t.Fatalf("%q: %d %q", target, w.Code, w.Body.String())
			}
			return
		}
		checkStatus(t, target, w.ResponseRecorder)
		if onAgentPath && len(validation.IsDNS1123Label(cluster)) == 0 && !want101 && req.Header.Get("Authorization") != "Bearer "+tok {
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("%q with a token that is not %q's: answered %d, want 401 whether or not the cluster exists", target, cluster, w.Code)
			}
		}
	})
}

// closeNewest closes the tunnel the handshake just opened and waits until the tower proxy
// dropped it, so that the next input starts from the same tunnels.
func (h *handshakeHarness) closeNewest(t *testing.T, cluster string, keep int) {
	t.Helper()
	h.s.mu.Lock()
	list := h.s.tunnels[cluster]
	newest := list[len(list)-1]
	h.s.mu.Unlock()
	_ = newest.session.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.tunnelCounts()[cluster] != keep {
		if time.Now().After(deadline) {
			t.Fatalf("the closed tunnel of %q was not dropped", cluster)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkStatus fails t unless rec is an error answer written as a Kubernetes Status.
func checkStatus(t *testing.T, input string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 400 || rec.Code > 599 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%q: answered %d (%s) %q", input, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	var st metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || st.APIVersion != "v1" ||
		st.Status != metav1.StatusFailure || int(st.Code) != rec.Code || st.Message == "" {
		t.Fatalf("%q: the answer %d is not a Status: %q (%v)", input, rec.Code, rec.Body.String(), err)
	}
}
