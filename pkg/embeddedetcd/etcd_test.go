package embeddedetcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const testKey = "/registry/clusters.kubesphere.io/clusters/member1"

func startServer(t *testing.T, dataDir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, dataDir)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// endpoint is the server's client address without scheme, so that the client's TLS
// config alone decides whether it speaks TLS.
func endpoint(t *testing.T, s *Server) string {
	t.Helper()
	u, err := url.Parse(s.ClientURL)
	if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("ClientURL %q: want https://127.0.0.1:<port> (%v)", s.ClientURL, err)
	}
	return u.Host
}

// trustedTLS is the TLS config the apiserver's storage client builds from the files.
func trustedTLS(t *testing.T, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	ca, err := os.ReadFile(caFile)
	if err != nil || !cfg.RootCAs.AppendCertsFromPEM(ca) {
		t.Fatalf("CA file %s: %v", caFile, err)
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("client key pair: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

func newClient(t *testing.T, addr string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, TLS: tlsCfg, DialTimeout: 3 * time.Second})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// get lists every key, as an intruder would.
func get(t *testing.T, addr string, tlsCfg *tls.Config) (*clientv3.GetResponse, error) {
	t.Helper()
	c, err := newClient(t, addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Get(ctx, "/", clientv3.WithPrefix())
}

func TestOnlyTheClientCertificateGetsIn(t *testing.T) {
	s := startServer(t, t.TempDir())
	// A cleanup, so that it runs after the clients' cleanups have closed them.
	t.Cleanup(s.Stop)
	addr := endpoint(t, s)

	c, err := newClient(t, addr, trustedTLS(t, s.CAFile, s.CertFile, s.KeyFile))
	if err != nil {
		t.Fatalf("client with the generated certificate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, testKey, "secret"); err != nil {
		t.Fatalf("Put with the generated client certificate: %v", err)
	}
	resp, err := c.Get(ctx, testKey)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "secret" {
		t.Fatalf("Get with the generated client certificate: %v, %v", resp, err)
	}

	otherDir := t.TempDir()
	otherCA, otherKey, err := newCA("intruder CA")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, foreignKey := filepath.Join(otherDir, "client.crt"), filepath.Join(otherDir, "client.key")
	if err := issue(&x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		otherCA, otherKey, foreignCert, foreignKey); err != nil {
		t.Fatal(err)
	}
	noCert := trustedTLS(t, s.CAFile, "", "")
	foreignPair := trustedTLS(t, s.CAFile, foreignCert, foreignKey).Certificates[0]
	foreign := withCert(noCert, foreignPair)
	// The serving certificate is signed by the same CA but is not meant for clients.
	serverAsClient := withCert(noCert, trustedTLS(t, s.CAFile, filepath.Join(s.tlsDir, "server.crt"), filepath.Join(s.tlsDir, "server.key")).Certificates[0])
	skipVerify := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // an intruder's client

	// Parallel inside a group, so that all are done before the server stops.
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfg  *tls.Config
			// want is what the server's TLS stack answers; "" for plain TCP, which gets
			// no byte back.
			want string
		}{
			{"plain (no TLS)", nil, ""},
			{"TLS without a client certificate", noCert, "certificate required"},
			{"TLS, skip verify, no certificate", skipVerify, "certificate required"},
			{"TLS with another CA's certificate", foreign, "unknown certificate authority"},
			{"TLS, skip verify, another CA's certificate", withCert(skipVerify, foreignPair), "unknown certificate authority"},
			{"TLS with the serving certificate", serverAsClient, "bad certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				assertRefused(t, addr, tc.cfg, tc.want)
			})
		}
	})
	// The HTTP endpoints etcd serves on the client port (health, metrics, version) are
	// behind the same client certificate; the JSON gateway is off.
	for _, path := range []string{"/health", "/metrics", "/version", "/v3/kv/range"} {
		t.Run("HTTP "+path, func(t *testing.T) {
			for name, cfg := range map[string]*tls.Config{"plain": nil, "TLS without a client certificate": skipVerify, "another CA's certificate": withCert(skipVerify, foreignPair)} {
				scheme := "https"
				if cfg == nil {
					scheme = "http"
				}
				client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
				resp, err := client.Get(scheme + "://" + addr + path)
				if err != nil {
					t.Logf("%s: refused: %v", name, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode < 400 || strings.Contains(string(body), "etcd") {
					t.Errorf("%s: %s answered %d: %.200q", name, path, resp.StatusCode, body)
				}
				client.CloseIdleConnections()
			}
		})
	}
}

// assertRefused checks that an etcd client with cfg gets neither an answer nor data, and
// that the reason is want: the TLS alert the server sends (plain TCP gets nothing back).
func assertRefused(t *testing.T, addr string, cfg *tls.Config, want string) {
	t.Helper()
	resp, err := get(t, addr, cfg)
	if err == nil {
		t.Fatalf("Get succeeded (%d keys): want it refused", len(resp.Kvs))
	}
	if resp != nil {
		t.Fatalf("Get returned data with error %v: %v", err, resp)
	}
	// The etcd client retries until its deadline and reports only that; a raw connection
	// shows why.
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var n int
	if cfg == nil {
		// What a gRPC client sends first.
		if _, err = io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err == nil {
			n, err = conn.Read(make([]byte, 64))
		}
	} else {
		cfg = cfg.Clone()
		cfg.ServerName = "127.0.0.1"
		tc := tls.Client(conn, cfg)
		// With TLS 1.3 the server judges the client's certificate after the client's
		// handshake is done: the alert arrives on the first read.
		if err = tc.Handshake(); err == nil {
			n, err = tc.Read(make([]byte, 64))
		}
	}
	if n != 0 || err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("raw connection read %d bytes, error %v: want none and an error containing %q", n, err, want)
	}
	t.Logf("refused: %v", err)
}

// withCert is base presenting cert whatever CAs the server asks for (Go's client
// otherwise leaves out a certificate the server would not accept).
func withCert(base *tls.Config, cert tls.Certificate) *tls.Config {
	c := base.Clone()
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return c
}

func TestCertificateFiles(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	dir := filepath.Join(dataDir, tlsDirName)
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Fatalf("certificate directory %s: %v, %v: want a directory with mode 0700", dir, info.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v: want a regular file with mode 0600", e.Name(), fi.Mode(), err)
		}
		if strings.HasPrefix(e.Name(), "ca.") && strings.HasSuffix(e.Name(), ".key") {
			t.Errorf("%s: the CA's key must not be written", e.Name())
		}
	}
	if got := strings.Join(names, ","); got != "ca.crt,client.crt,client.key,server.crt,server.key" {
		t.Errorf("certificate directory holds %s", got)
	}
	serving, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf := serving.Leaf
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("serving key %T: want ECDSA P-256", leaf.PublicKey)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	for _, f := range []string{s.CAFile, s.CertFile, s.KeyFile} {
		if filepath.Dir(f) != dir {
			t.Errorf("%s is not in %s", f, dir)
		}
	}

	s.Stop()
	stopped = true
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("after Stop, %s: %v: want it removed with its keys", dir, err)
	}
}

// Every start makes a new CA: certificates of an earlier run (a crash's leftovers, a copy
// someone took) are refused, and the data survives.
func TestRestartMakesNewCertificates(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	addr := endpoint(t, s)
	c, err := newClient(t, addr, trustedTLS(t, s.CAFile, s.CertFile, s.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, testKey, "kept"); err != nil {
		t.Fatal(err)
	}
	old := map[string][]byte{}
	for _, f := range []string{s.CAFile, s.CertFile, s.KeyFile} {
		if old[f], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	oldTLS := trustedTLS(t, s.CAFile, s.CertFile, s.KeyFile)
	s.Stop()

	s = startServer(t, dataDir)
	t.Cleanup(s.Stop)
	for f, before := range old {
		now, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(now) == string(before) {
			t.Errorf("%s was reused across restarts", f)
		}
	}
	addr = endpoint(t, s)
	assertRefused(t, addr, withCert(&tls.Config{InsecureSkipVerify: true}, oldTLS.Certificates[0]), "unknown certificate authority") //nolint:gosec // an intruder's client
	resp, err := get(t, addr, trustedTLS(t, s.CAFile, s.CertFile, s.KeyFile))
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Fatalf("after restart, Get with the new certificate: %v, %v: want the data kept", resp, err)
	}
}
