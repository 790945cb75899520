package reposync

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// tgz is a small chart archive named name.
func tgz(t *testing.T, name string, pad int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := []byte("apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n" + strings.Repeat("#", pad))
	if err := tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// chartServer serves files (path -> body) over TLS, counts requests per path, and
// records the Authorization header each got. Paths under /private/ want reader:s3cret.
type chartServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	auth  map[string]string
	gate  chan struct{} // when set, chart reads wait for it
}

func newChartServer(t *testing.T) *chartServer {
	cs := &chartServer{files: map[string][]byte{}, hits: map[string]int{}, auth: map[string]string{}}
	cs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.hits[r.URL.Path]++
		cs.auth[r.URL.Path] = r.Header.Get("Authorization")
		body, ok := cs.files[r.URL.Path]
		gate := cs.gate
		cs.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/private/") {
			if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "s3cret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if gate != nil && strings.HasSuffix(r.URL.Path, ".tgz") {
			<-gate
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *chartServer) put(path string, body []byte) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.files[path] = body
}

func (cs *chartServer) count(path string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.hits[path]
}

func (cs *chartServer) authOf(path string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.auth[path]
}

func (cs *chartServer) ca() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.Certificate().Raw})
}

// entry is one version of an index: name, version, URL and digest ("" for none).
func entry(name, version, url, digest string) string {
	s := fmt.Sprintf("  %s:\n  - name: %s\n    version: %s\n    urls: [%q]\n", name, name, version, url)
	if digest != "" {
		s += "    digest: " + digest + "\n"
	}
	return s
}

// statusIs checks err is a Status of code and reason whose message holds each of want.
func statusIs(t *testing.T, err error, code int32, reason string, want ...string) {
	t.Helper()
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("err = %v (%T), want a Status %d %s", err, err, code, reason)
	}
	s := status.Status()
	if s.Code != code || string(s.Reason) != reason {
		t.Fatalf("Status %d %s: %s; want %d %s", s.Code, s.Reason, s.Message, code, reason)
	}
	for _, w := range want {
		if !strings.Contains(s.Message, w) {
			t.Errorf("message %q does not name %q", s.Message, w)
		}
	}
}

func TestChart(t *testing.T) {
	srv, other := newChartServer(t), newChartServer(t)
	hello1, hello2, hello3 := tgz(t, "hello", 0), tgz(t, "hello", 10), tgz(t, "hello", 20)
	bare, big := tgz(t, "bare", 0), tgz(t, "big", 4096)
	srv.put("/stable/charts/hello-0.1.0.tgz", hello1)
	srv.put("/stable/hello-0.2.0.tgz", hello2)
	srv.put("/stable/bare-1.0.0.tgz", bare)
	srv.put("/stable/big-1.0.0.tgz", big)
	srv.put("/stable/page.tgz", []byte("<html>not a chart</html>"))
	other.put("/far/hello-0.3.0.tgz", hello3)
	index := "apiVersion: v1\nentries:\n" +
		entry("hello", "0.1.0", "charts/hello-0.1.0.tgz", digestOf(hello1)) + // relative, in a subfolder
		strings.TrimPrefix(entry("hello", "0.2.0", srv.URL+"/stable/hello-0.2.0.tgz", "sha256:"+digestOf(hello2)), "  hello:\n") +
		strings.TrimPrefix(entry("hello", "0.3.0", other.URL+"/far/hello-0.3.0.tgz", digestOf(hello3)), "  hello:\n") +
		strings.TrimPrefix(entry("hello", "0.4.0", "missing.tgz", digestOf([]byte("missing"))), "  hello:\n") +
		strings.TrimPrefix(entry("hello", "0.5.0", "http://127.0.0.1:1/x.tgz", ""), "  hello:\n") +
		entry("bare", "1.0.0", "bare-1.0.0.tgz", "") +
		entry("tampered", "1.0.0", "bare-1.0.0.tgz", digestOf([]byte("another archive"))) +
		entry("big", "1.0.0", "big-1.0.0.tgz", digestOf(big)) +
		entry("page", "1.0.0", "page.tgz", "")
	srv.put("/stable/index.yaml", []byte(index))
	repo := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "local", Generation: 1},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL + "/stable", CABundle: srv.ca()}}
	uploads := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "uploads"}, Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceUpload}}
	s, _, _ := newSyncer(t, []*v1alpha1.Repo{repo, uploads})
	ctx := context.Background()
	if _, err := s.sync(ctx, "local"); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		chart, version, path string
		want                 []byte
	}{
		{"hello", "0.1.0", "/stable/charts/hello-0.1.0.tgz", hello1}, // relative to the index
		{"hello", "0.2.0", "/stable/hello-0.2.0.tgz", hello2},        // absolute
		{"bare", "1.0.0", "/stable/bare-1.0.0.tgz", bare},            // no digest listed
	} {
		got, err := s.Chart(ctx, "local", c.chart, c.version)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("%s %s: %d bytes, %v", c.chart, c.version, len(got), err)
		}
		if n := srv.count(c.path); n != 1 {
			t.Fatalf("%s %s: %d requests of %s", c.chart, c.version, n, c.path)
		}
	}
	if got, err := s.Chart(ctx, "local", "hello", "0.3.0"); err != nil || !bytes.Equal(got, hello3) || other.count("/far/hello-0.3.0.tgz") != 1 {
		t.Fatalf("on another host: %d bytes, %v", len(got), err)
	}

	t.Run("cache", func(t *testing.T) {
		if _, err := s.Chart(ctx, "local", "hello", "0.1.0"); err != nil {
			t.Fatal(err)
		}
		if n := srv.count("/stable/charts/hello-0.1.0.tgz"); n != 1 {
			t.Fatalf("a verified archive was read %d times", n)
		}
		if _, err := s.Chart(ctx, "local", "bare", "1.0.0"); err != nil {
			t.Fatal(err)
		}
		if n := srv.count("/stable/bare-1.0.0.tgz"); n != 2 {
			t.Fatalf("an archive with no digest was read %d times, want it read again (nothing to cache it by)", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, err := s.Chart(ctx, "local", "tampered", "1.0.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonDigestMismatch, "sha256:"+digestOf(bare), "sha256:"+digestOf([]byte("another archive")), srv.URL+"/stable/bare-1.0.0.tgz")
		// Not cached either: the next read downloads and refuses again.
		before := srv.count("/stable/bare-1.0.0.tgz")
		_, err = s.Chart(ctx, "local", "tampered", "1.0.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonDigestMismatch)
		if srv.count("/stable/bare-1.0.0.tgz") != before+1 {
			t.Fatal("a refused archive was cached")
		}

		_, err = s.Chart(ctx, "local", "page", "1.0.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonInvalid, "not a gzip archive")
		_, err = s.Chart(ctx, "local", "hello", "0.4.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonInvalid, srv.URL+"/stable/missing.tgz", "404")
		_, err = s.Chart(ctx, "local", "hello", "0.5.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonInvalid, "https only")

		s.maxChart = int64(len(big) - 1)
		_, err = s.Chart(ctx, "local", "big", "1.0.0")
		statusIs(t, err, http.StatusBadGateway, appstore.ChartReasonTooLarge, fmt.Sprint(len(big)))
		s.maxChart = defaultMaxChart

		_, err = s.Chart(ctx, "local", "hello", "9.9.9")
		if !apierrors.IsNotFound(err) {
			t.Fatalf("unknown version: %v", err)
		}
		_, err = s.Chart(ctx, "gone", "hello", "0.1.0")
		if !apierrors.IsNotFound(err) {
			t.Fatalf("unknown Repo: %v", err)
		}
		_, err = s.Chart(ctx, "uploads", "hello", "0.1.0")
		statusIs(t, err, http.StatusNotImplemented, appstore.ChartReasonSourceNotSupported, "Upload")
	})

	t.Run("unreachable", func(t *testing.T) {
		srv.Close()
		s.charts = newChartCache(defaultChartCache, chartTimeout) // nothing cached
		_, err := s.Chart(ctx, "local", "hello", "0.1.0")
		statusIs(t, err, http.StatusServiceUnavailable, appstore.RepoReasonUnreachable, srv.URL+"/stable/charts/hello-0.1.0.tgz")
	})
}

// Credentials go with requests to the Repo's host only; without them a private archive
// is Unauthorized, and a CA that is not the server's a TLSError.
func TestChartCredentials(t *testing.T) {
	srv, other := newChartServer(t), newChartServer(t)
	hello := tgz(t, "hello", 0)
	srv.put("/private/hello-0.1.0.tgz", hello)
	other.put("/hello-0.2.0.tgz", hello)
	srv.put("/private/index.yaml", []byte("apiVersion: v1\nentries:\n"+entry("hello", "0.1.0", "hello-0.1.0.tgz", digestOf(hello))+
		strings.TrimPrefix(entry("hello", "0.2.0", other.URL+"/hello-0.2.0.tgz", digestOf(hello)), "  hello:\n")))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "kubesphere-system"},
		Data: map[string][]byte{"username": []byte("reader"), "password": []byte("s3cret")}}
	private := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "private", Generation: 1},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL + "/private/", CABundle: srv.ca(),
			CredentialsSecretRef: &v1alpha1.LocalSecretReference{Name: "creds"}}}
	s, _, c := newSyncer(t, []*v1alpha1.Repo{private}, secret)
	ctx := context.Background()
	if _, err := s.sync(ctx, "private"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chart(ctx, "private", "hello", "0.1.0"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.authOf("/private/hello-0.1.0.tgz"), "Basic ") {
		t.Fatal("the Repo's host got no credentials")
	}
	s.charts = newChartCache(defaultChartCache, chartTimeout) // both versions are one archive
	if _, err := s.Chart(ctx, "private", "hello", "0.2.0"); err != nil {
		t.Fatal(err)
	}
	if other.count("/hello-0.2.0.tgz") != 1 || other.authOf("/hello-0.2.0.tgz") != "" {
		t.Fatalf("another host got %d requests, Authorization %q: want one, without", other.count("/hello-0.2.0.tgz"), other.authOf("/hello-0.2.0.tgz"))
	}

	// The same catalog, the Repo's credentials gone: the archive is Unauthorized.
	anonymous := private.DeepCopy()
	anonymous.Spec.CredentialsSecretRef = nil
	s2, _, _ := newSyncer(t, []*v1alpha1.Repo{anonymous})
	s2.catalog = c
	_, err := s2.Chart(ctx, "private", "hello", "0.1.0")
	statusIs(t, err, http.StatusServiceUnavailable, appstore.RepoReasonUnauthorized, srv.URL+"/private/hello-0.1.0.tgz")
	noCA := anonymous.DeepCopy()
	noCA.Spec.CABundle = nil
	s3, _, _ := newSyncer(t, []*v1alpha1.Repo{noCA})
	s3.catalog = c
	_, err = s3.Chart(ctx, "private", "hello", "0.1.0")
	statusIs(t, err, http.StatusServiceUnavailable, appstore.RepoReasonTLSError)
}

// Requests for one archive at the same time share one download.
func TestChartSharedDownload(t *testing.T) {
	srv := newChartServer(t)
	hello := tgz(t, "hello", 0)
	srv.put("/hello-0.1.0.tgz", hello)
	srv.put("/index.yaml", []byte("apiVersion: v1\nentries:\n"+entry("hello", "0.1.0", "hello-0.1.0.tgz", digestOf(hello))))
	repo := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "local", Generation: 1},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL, CABundle: srv.ca()}}
	s, _, _ := newSyncer(t, []*v1alpha1.Repo{repo})
	ctx := context.Background()
	if _, err := s.sync(ctx, "local"); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 5 {
		wg.Go(func() {
			if got, err := s.Chart(ctx, "local", "hello", "0.1.0"); err != nil || !bytes.Equal(got, hello) {
				failures.Add(1)
			}
		})
	}
	// Let the first request reach the server before it answers.
	for srv.count("/hello-0.1.0.tgz") == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if failures.Load() != 0 || srv.count("/hello-0.1.0.tgz") != 1 {
		t.Fatalf("%d failed, %d downloads: want none failed, one download", failures.Load(), srv.count("/hello-0.1.0.tgz"))
	}
}

func TestChartCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newChartCache(10, chartTimeout)
	a, b, d := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c.add(a, []byte("aaaa"))
	c.add(b, []byte("bbbb"))
	if _, ok := c.get(a); !ok { // a is now the most recent
		t.Fatal("a not cached")
	}
	c.add(d, []byte("dddd")) // 12 bytes: b goes
	if _, ok := c.get(b); ok {
		t.Fatal("b stayed")
	}
	if _, ok := c.get(a); !ok {
		t.Fatal("a went")
	}
	c.add([32]byte{4}, make([]byte, 11))
	if _, ok := c.get([32]byte{4}); ok || c.size != 8 {
		t.Fatalf("an archive over the whole cache was kept (size %d)", c.size)
	}
}
