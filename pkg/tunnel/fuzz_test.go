package tunnel

// Fuzz tests of what the tunnel reads from the network: join tokens, an agent's handshake
// and a dialer's CONNECT on the tower proxy, and the tower proxy's answer to CONNECT on the
// dialer. `go test` runs the seeds (f.Add below and testdata/fuzz/<FuzzName>/); `make fuzz`
// fuzzes each target. Everything listens on 127.0.0.1 only.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Two join tokens of the right shape, fixed so that seeds can carry them: 32 bytes of 0xa1
// and of 0xb2, in unpadded base64url.
const (
	fuzzTokenMember1 = "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaE"
	fuzzTokenMember2 = "srKysrKysrKysrKysrKysrKysrKysrKysrKysrKysrI"
	// fuzzDialerBearer is the only credential the fuzzed tower proxy lets open streams.
	fuzzDialerBearer = "dialer-secret"
)

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzTokenParsing checks the token functions on arbitrary strings: the shape check never
// panics and accepts exactly 43 base64url characters (the decoder also skips CR and LF);
// a token matches the stored hash of exactly the string that was hashed (not another
// spelling of the same 32 bytes, not a hash in capitals); and a token Secret's name gives
// back the cluster it was made from. (ClusterOfTokenSecret does not check that what it
// returns is a DNS-1123 label: "a.b-agent-token" gives "a.b", "a--agent-token" gives "a-".
// No Cluster can have such a name, so it is checked here as a round trip only.)
func FuzzTokenParsing(f *testing.F) {
	for _, s := range []struct{ a, b string }{
		{fuzzTokenMember1, fuzzTokenMember1}, {fuzzTokenMember1, fuzzTokenMember2},
		{fuzzTokenMember1, "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaF"}, // same bytes, other last character
		{fuzzTokenMember1 + "\n", fuzzTokenMember1}, {"\r\n" + fuzzTokenMember1, fuzzTokenMember1},
		{fuzzTokenMember1 + "=", fuzzTokenMember1}, {" " + fuzzTokenMember1, fuzzTokenMember1},
		{"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa", ""}, {fuzzTokenMember1 + "A", ""},
		{"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa+", ""}, {"oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoa/", ""},
		{"", ""}, {"Bearer " + fuzzTokenMember1, fuzzTokenMember1}, {"apiVersion: v1\nkind: Config\n", ""},
		{"member1-agent-token", "member1"}, {"-agent-token", ""}, {"a--agent-token", "a-"}, {"a.b-agent-token", "a.b"},
		{"x-agent-token-agent-token", "x-agent-token"}, {"member1-agent-tokens", "member1"}, {"MEMBER1-agent-token", "MEMBER1"},
		{HashToken(fuzzTokenMember1), strings.ToUpper(HashToken(fuzzTokenMember1))},
		{strings.Repeat("A", 43), strings.Repeat("A", 4096)}, {"ｍember1-agent-token", "\x00"},
	} {
		f.Add(s.a, s.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		shaped := LooksLikeToken(a)
		if shaped != (checkTokenShape(a) == nil) {
			t.Fatalf("LooksLikeToken(%q) = %v disagrees with checkTokenShape", a, shaped)
		}
		bare := strings.NewReplacer("\r", "", "\n", "").Replace(a)
		if shaped && (len(bare) != 43 || strings.Trim(bare, base64URLAlphabet) != "") {
			t.Fatalf("LooksLikeToken(%q): accepted what is not 43 characters of base64url", a)
		}
		if shaped {
			raw, _ := base64.RawURLEncoding.DecodeString(a)
			if canonical := base64.RawURLEncoding.EncodeToString(raw); canonical != a && tokenMatches(HashToken(a), canonical) {
				t.Fatalf("%q matched the hash of %q, another spelling of the same bytes", canonical, a)
			}
		}
		// Any 32 bytes make a token of the right shape, as NewToken's do.
		sum := sha256.Sum256([]byte(a))
		if made := base64.RawURLEncoding.EncodeToString(sum[:]); !LooksLikeToken(made) {
			t.Fatalf("LooksLikeToken(%q) = false for 32 bytes in base64url", made)
		}

		// A stored hash is matched by the token that was hashed, and by no other string.
		h := HashToken(a)
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			t.Fatalf("HashToken(%q) = %q, not 64 lowercase hex digits", a, h)
		}
		if !tokenMatches(h, a) {
			t.Fatalf("%q does not match its own hash", a)
		}
		if tokenMatches(h, b) != (a == b) {
			t.Fatalf("tokenMatches(HashToken(%q), %q) = %v", a, b, !(a == b))
		}
		if tokenMatches(b, a) != (b == h) {
			t.Fatalf("tokenMatches(%q, %q) = %v: only the exact stored hash %q matches", b, a, b != h, h)
		}

		// Token Secrets: <cluster>-agent-token, and back.
		for _, name := range []string{a, b} {
			cluster := ClusterOfTokenSecret(name)
			if cluster != "" && TokenSecretName(cluster) != name {
				t.Fatalf("ClusterOfTokenSecret(%q) = %q, whose token Secret is %q", name, cluster, TokenSecretName(cluster))
			}
			// Only cluster names come back: a Secret named for a name no Cluster can have
			// (not a DNS-1123 label) belongs to no cluster.
			if cluster != "" && len(validation.IsDNS1123Label(cluster)) > 0 {
				t.Fatalf("ClusterOfTokenSecret(%q) = %q, which is not a cluster name", name, cluster)
			}
			if len(validation.IsDNS1123Label(name)) == 0 {
				if got := ClusterOfTokenSecret(TokenSecretName(name)); got != name {
					t.Fatalf("ClusterOfTokenSecret(TokenSecretName(%q)) = %q", name, got)
				}
			}
		}
	})
}

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
		hashes[c] = HashToken(tok)
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
			// Answer first, then read: the tower proxy's splice returns as soon as the
			// dialer-to-agent copy ends (its own done signal satisfies its wait), so an
			// agent that answers after the dialer half-closed loses its answer. The fake
			// dialer here never half-closes.
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

// towerStub is a TLS server on 127.0.0.1 that reads one CONNECT per connection and answers
// it with whatever the fuzz input says, then closes.
type towerStub struct {
	url   *url.URL
	roots *x509.CertPool
	// sessions resumes TLS sessions: a full handshake per input would be most of the time.
	sessions tls.ClientSessionCache

	mu     sync.Mutex
	answer []byte
	got    stubRequest
}

type stubRequest struct {
	err               error
	method, host      string
	authz             []string
	leftover          int
	urlHost, urlPath  string
	requestHeaderSeen bool
}

func newTowerStub(tb testing.TB) *towerStub {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tower-proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	s := &towerStub{url: &url.URL{Scheme: "https", Host: l.Addr().String()}, roots: x509.NewCertPool(), sessions: tls.NewLRUClientSessionCache(8)}
	s.roots.AddCert(cert)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *towerStub) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	got := stubRequest{err: err}
	if err == nil {
		got = stubRequest{method: req.Method, host: req.Host, authz: req.Header.Values("Authorization"), leftover: br.Buffered(),
			urlHost: req.URL.Host, urlPath: req.URL.Path, requestHeaderSeen: true}
	}
	s.mu.Lock()
	s.got = got
	answer := s.answer
	s.mu.Unlock()
	_, _ = c.Write(answer)
}

// FuzzConnectResponse answers a dialer's CONNECT with arbitrary bytes. The dialer never
// panics and never waits past its timeout; it returns a stream exactly when the answer is a
// 200, and the stream then starts with exactly the bytes after the answer's header (none
// lost to or left in the parser's buffer); a 503 is ErrAgentNotConnected (the next replica
// is tried), any other answer an error that gives the code. The CONNECT it sent names the
// cluster and carries its bearer token as is.
func FuzzConnectResponse(f *testing.F) {
	status := func(code int, reason string) string {
		body, _ := json.Marshal(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Code: int32(code), Message: "refused: " + reason})
		return "HTTP/1.1 " + strconv.Itoa(code) + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	}
	for _, s := range []struct{ answer, bearer string }{
		{"HTTP/1.1 200 Connection established\r\n\r\n", ""},
		{"HTTP/1.1 200 Connection established\r\nTunnel-Id: t1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "sa-token"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, stream", ""},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ""},
		{"HTTP/1.0 200 OK\n\nbare newlines", ""},
		{status(503, "Service Unavailable"), ""},
		{"HTTP/1.1 503 Service Unavailable\r\n\r\n", ""},
		{status(401, "Unauthorized"), "wrong"},
		{status(403, "Forbidden"), ""},
		{"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"kind\":\"Status\",\"message\":\"" + strings.Repeat("x", 70000) + "\"}", ""},
		{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\nshort", ""},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", ""},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", ""},
		{"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/\r\n\r\n", ""},
		{"HTTP/1.1 200", ""}, {"HTTP/1.1 200 OK\r\n", ""}, {"", ""}, {"SSH-2.0-OpenSSH_9.6\r\n", ""},
		{"HTTP/1.1 999 Odd\r\n\r\n", ""}, {"HTTP/1.1 20 Short\r\n\r\n", ""}, {"HTTP/2 200\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 20000) + "\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nTunnel-Id: a\r\nTunnel-Id: b\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\n\r\n", "token\n"}, {"HTTP/1.1 200 OK\r\n\r\n", "token\r\nX-Injected: yes"},
		{"HTTP/1.1 200 OK\r\n\r\n", " token "}, {"HTTP/1.1 200 OK\r\n\r\n", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
	} {
		f.Add([]byte(s.answer), s.bearer)
	}
	stub := newTowerStub(f)
	const timeout = 2 * time.Second
	f.Fuzz(func(t *testing.T, answer []byte, bearer string) {
		stub.mu.Lock()
		stub.answer, stub.got = answer, stubRequest{}
		stub.mu.Unlock()
		d := &Dialer{Servers: []*url.URL{stub.url}, TLS: &tls.Config{RootCAs: stub.roots, MinVersion: tls.VersionTLS12, ClientSessionCache: stub.sessions},
			Bearer: func() string { return bearer }, Timeout: timeout}
		start := time.Now()
		conn, err := d.dialOne(context.Background(), stub.url, stub.url.Host, "member1")
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Fatalf("dialOne took %v with a timeout of %v", elapsed, timeout)
		}
		stub.mu.Lock()
		got := stub.got
		stub.mu.Unlock()

		// A token with a byte that could end or add a header is never sent.
		if !sendable(bearer) {
			if err == nil || !strings.Contains(err.Error(), "cannot be sent to a tower proxy") {
				t.Fatalf("bearer %q: dialOne should refuse to send it, got %v", bearer, err)
			}
			if got.requestHeaderSeen {
				t.Fatalf("bearer %q: the tower proxy read a request %+v", bearer, got)
			}
			return
		}
		// What the tower proxy read: one CONNECT to member1:443 with the bearer token as is,
		// and nothing after it.
		if !got.requestHeaderSeen || got.method != http.MethodConnect || got.host != "member1:443" || got.urlHost != "member1:443" || got.leftover != 0 {
			t.Fatalf("bearer %q: the tower proxy read %+v", bearer, got)
		}
		want := []string(nil)
		if bearer != "" {
			want = []string{"Bearer " + bearer}
		}
		if strings.Join(got.authz, "\x00") != strings.Join(want, "\x00") || len(got.authz) != len(want) {
			t.Fatalf("bearer %q: the tower proxy read Authorization %q", bearer, got.authz)
		}

		// What the dialer should make of the answer, read the same way from memory.
		br := bufio.NewReader(bytes.NewReader(answer))
		resp, perr := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		switch {
		case perr != nil:
			if err == nil {
				_ = conn.Close()
				t.Fatalf("%q does not parse (%v), yet dialOne returned a stream", answer, perr)
			}
		case resp.StatusCode == http.StatusOK:
			if err != nil {
				t.Fatalf("%q: a 200, yet dialOne failed: %v", answer, err)
			}
			rest, _ := io.ReadAll(br)
			_ = conn.SetDeadline(time.Now().Add(timeout))
			stream, rerr := io.ReadAll(conn)
			_ = conn.Close()
			if rerr != nil || !bytes.Equal(stream, rest) {
				t.Fatalf("%q: the stream carried %q (%v), want the %d bytes after the header %q", answer, stream, rerr, len(rest), rest)
			}
			if n, ok := conn.(interface{ TunnelID() string }); ok && n.TunnelID() != resp.Header.Get("Tunnel-Id") {
				t.Fatalf("%q: the stream says tunnel %q, the answer %q", answer, n.TunnelID(), resp.Header.Get("Tunnel-Id"))
			}
		case resp.StatusCode == http.StatusServiceUnavailable:
			var nc ErrAgentNotConnected
			if !errors.As(err, &nc) || nc.Cluster != "member1" {
				t.Fatalf("%q: a 503 should be ErrAgentNotConnected for member1, got %v", answer, err)
			}
		default:
			if err == nil {
				_ = conn.Close()
				t.Fatalf("%q: a %d, yet dialOne returned a stream", answer, resp.StatusCode)
			}
			if errors.As(err, new(ErrAgentNotConnected)) || !strings.Contains(err.Error(), strconv.Itoa(resp.StatusCode)) {
				t.Fatalf("%q: a %d gave the error %q", answer, resp.StatusCode, err)
			}
		}
	})
}

// sendable tells whether a bearer token goes into the CONNECT as is: no space, no control
// character (a token has neither).
func sendable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f })
}
