package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
)

// The index server answers as a static file server: the body with validators, then 304
// to either validator, and counts the syncer's answers apart from the floor's.
func TestIndexServerConditionalGET(t *testing.T) {
	data := []byte("apiVersion: v1\nentries: {}\n")
	s, err := serveIndex("127.0.0.1:0", data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := serveIndex("0.0.0.0:0", data); err == nil {
		t.Fatal("served on a non-loopback address")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.caPEM) {
		t.Fatal("no CA")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	get := func(agent string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url+"index.yaml", nil)
		req.Header.Set("User-Agent", agent)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && string(body) != string(data) {
			t.Fatalf("body %q", body)
		}
		return resp
	}
	first := get("Go-http-client/2.0", nil)
	etag, modified := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
	if first.StatusCode != http.StatusOK || etag == "" || modified == "" {
		t.Fatalf("first answer %d, ETag %q, Last-Modified %q", first.StatusCode, etag, modified)
	}
	for _, h := range []map[string]string{{"If-None-Match": etag}, {"If-Modified-Since": modified}, {"If-None-Match": etag, "If-Modified-Since": modified}} {
		if r := get("Go-http-client/2.0", h); r.StatusCode != http.StatusNotModified {
			t.Errorf("%v: %d, want 304", h, r.StatusCode)
		}
	}
	if r := get(floorAgent, map[string]string{"If-None-Match": `"other"`}); r.StatusCode != http.StatusOK {
		t.Errorf("another ETag: %d, want 200", r.StatusCode)
	}
	if a, b, f := s.count("syncer", 200), s.count("syncer", 304), s.count("floor", 200); a != 1 || b != 3 || f != 1 {
		t.Errorf("counts: syncer %d x 200, %d x 304, floor %d x 200", a, b, f)
	}
	if got, n := s.tally("syncer"); got != "1 x 200, 3 x 304" || n != int64(len(data)) {
		t.Errorf("tally %q, %d bytes", got, n)
	}
}
