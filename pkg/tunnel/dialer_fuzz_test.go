package tunnel

// Fuzz test of what a dialer reads from the network: the tower proxy's answer to CONNECT.
// `go test` runs the seeds (f.Add below and testdata/fuzz/FuzzConnectResponse/); `make
// fuzz` fuzzes it. The stub tower proxy listens on 127.0.0.1 only.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
