package reposync

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"kubesphere.io/multicluster/apis/appstore"
)

func TestIndexURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://charts.example.com":                 "https://charts.example.com/index.yaml",
		"https://charts.example.com/stable/":         "https://charts.example.com/stable/index.yaml",
		"https://charts.example.com/stable/idx.yaml": "https://charts.example.com/stable/idx.yaml",
		"https://charts.example.com/index.json":      "https://charts.example.com/index.json",
	} {
		if got, err := indexURL(in); err != nil || got != want {
			t.Errorf("indexURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// A server that plays a Helm repository: ETag, 304, basic auth, and what goes wrong.
func repoServer(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			_, _ = w.Write([]byte(body))
		case "/private/index.yaml":
			if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "s3cret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(body))
		case "/streamed/index.yaml": // no Content-Length: the cap applies while reading
			w.Header().Set("Transfer-Encoding", "chunked")
			for i := 0; i < 4; i++ {
				_, _ = w.Write([]byte(body))
				w.(http.Flusher).Flush()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchIndex(t *testing.T) {
	body := "apiVersion: v1\nentries: {}\n" + strings.Repeat("# padding\n", 50)
	srv := repoServer(t, body)
	ctx := context.Background()
	c := &repoClient{http: srv.Client()}
	u, _ := url.Parse(srv.URL)
	withCreds := &repoClient{http: srv.Client(), host: u.Host, creds: &credentials{username: "reader", password: "s3cret"}}

	got, err := fetchIndex(ctx, c, srv.URL+"/index.yaml", validators{}, 1<<20)
	if err != nil || string(got.body) != body || got.validators.etag != `"v1"` || !strings.HasPrefix(got.digest, "sha256:") {
		t.Fatalf("first read: %+v, %v", got, err)
	}
	again, err := fetchIndex(ctx, c, srv.URL+"/index.yaml", got.validators, 1<<20)
	if err != nil || !again.notModified || again.body != nil {
		t.Fatalf("unchanged index: %+v, %v; want notModified and no body", again, err)
	}
	if _, err := fetchIndex(ctx, withCreds, srv.URL+"/private/index.yaml", validators{}, 1<<20); err != nil {
		t.Fatalf("with credentials: %v", err)
	}

	for name, c2 := range map[string]struct {
		client *repoClient
		url    string
		max    int64
		reason string
	}{
		"no credentials":        {c, srv.URL + "/private/index.yaml", 1 << 20, appstore.RepoReasonUnauthorized},
		"no index":              {c, srv.URL + "/nothing/index.yaml", 1 << 20, appstore.RepoReasonNotFound},
		"declared too large":    {c, srv.URL + "/index.yaml", int64(len(body) - 1), appstore.RepoReasonIndexTooLarge},
		"streamed too large":    {c, srv.URL + "/streamed/index.yaml", int64(2 * len(body)), appstore.RepoReasonIndexTooLarge},
		"a CA that is not his":  {&repoClient{http: http.DefaultClient}, srv.URL + "/index.yaml", 1 << 20, appstore.RepoReasonTLSError},
		"nothing listens there": {c, "https://127.0.0.1:1/index.yaml", 1 << 20, appstore.RepoReasonUnreachable},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fetchIndex(ctx, c2.client, c2.url, validators{}, c2.max)
			if err == nil || reasonOf(err) != c2.reason {
				t.Fatalf("err = %v (reason %s), want reason %s", err, reasonOf(err), c2.reason)
			}
		})
	}
	if got, err := fetchIndex(ctx, c, srv.URL+"/streamed/index.yaml", validators{}, int64(4*len(body))); err != nil || len(got.body) != 4*len(body) {
		t.Fatalf("streamed within the cap: %d bytes, %v", len(got.body), err)
	}
}
