package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// floorAgent is the User-Agent of the bench's own requests, so that the file server
// counts them apart from the syncer's.
const floorAgent = "bench-appstore-floor"

// indexServer serves one index.yaml over HTTPS on a loopback address as a static file
// server does: an ETag and a Last-Modified, and 304 to a conditional GET that matches
// either (http.ServeContent). Its certificate is signed by a CA made at start, held in
// memory only; the Repo trusts it by spec.caBundle.
type indexServer struct {
	srv      *http.Server
	ln       net.Listener
	url      string // https://<addr>/
	caPEM    []byte
	data     []byte
	etag     string
	modified time.Time

	mu     sync.Mutex
	counts map[answer]int
	bytes  map[string]int64 // body bytes sent, per client
}

// answer is one kind of reply: to whom (the syncer or the bench's floor) and its code.
type answer struct {
	client string
	code   int
}

// serveIndex starts serving data at addr (a 127.0.0.1 address; port 0 picks one).
func serveIndex(addr string, data []byte) (*indexServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--index-addr %s: only a loopback address is served", addr)
	}
	cert, caPEM, err := runTimeCert(net.ParseIP(host))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	s := &indexServer{ln: ln, url: "https://" + ln.Addr().String() + "/", caPEM: caPEM, data: data,
		etag: fmt.Sprintf(`"%x"`, sum[:16]), modified: time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		counts: map[answer]int{}, bytes: map[string]int64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /index.yaml", s.serve)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

func (s *indexServer) serve(w http.ResponseWriter, r *http.Request) {
	client := "syncer"
	if r.UserAgent() == floorAgent {
		client = "floor"
	}
	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/yaml")
	http.ServeContent(rec, r, "index.yaml", s.modified, bytes.NewReader(s.data))
	s.mu.Lock()
	s.counts[answer{client, rec.code}]++
	s.bytes[client] += rec.n
	s.mu.Unlock()
}

// count is how many answers of code went to client so far.
func (s *indexServer) count(client string, code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[answer{client, code}]
}

// tally is every answer so far, for the table: "3 x 200, 20 x 304".
func (s *indexServer) tally(client string) (string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ""
	for _, code := range []int{200, 304} {
		if n := s.counts[answer{client, code}]; n > 0 {
			out += fmt.Sprintf(", %d x %d", n, code)
		}
	}
	for a, n := range s.counts {
		if a.client == client && a.code != 200 && a.code != 304 {
			out += fmt.Sprintf(", %d x %d", n, a.code)
		}
	}
	if out == "" {
		return "none", 0
	}
	return out[2:], s.bytes[client]
}

func (s *indexServer) close() {
	_ = s.srv.Close()
}

// recorder keeps the status code and the body bytes of one answer.
type recorder struct {
	http.ResponseWriter
	code int
	n    int64
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

// runTimeCert makes a CA and a serving certificate for ip signed by it, both in memory.
func runTimeCert(ip net.IP) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench-appstore index CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{ip},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, caPEM, nil
}
