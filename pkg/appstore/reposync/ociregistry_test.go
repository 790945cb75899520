package reposync

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeRegistry plays the parts of the distribution API an OCI Repo uses: paged tag
// lists (Link headers), manifests by tag or digest, blobs, and basic or token auth.
type fakeRegistry struct {
	srv *httptest.Server

	mu        sync.Mutex
	tags      map[string][]string          // repository -> tags
	manifests map[string]map[string][]byte // repository -> tag or digest -> manifest
	blobs     map[string][]byte            // digest -> content
	pageSize  int
	// bearer: 401 with a token challenge; else with a basic one. No user: anonymous.
	bearer         bool
	user, password string
	// broken answers the tag lists with this body instead (malformed input).
	broken string
	// status answers everything with this status code.
	status int

	manifestGets, tagGets atomic.Int32
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	f := &fakeRegistry{tags: map[string][]string{}, manifests: map[string]map[string][]byte{}, blobs: map[string][]byte{}, pageSize: 2}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.srv.URL, "https://") }

// ociDigestOf is b's digest as the distribution API writes it.
func ociDigestOf(b []byte) string { return "sha256:" + digestOf(b) }

// push stores a Helm chart manifest of name:version under tag, with config cfg (nil: a
// Chart.yaml of name and version) and layer chart, and returns the manifest's digest.
func (f *fakeRegistry) push(repo, tag string, cfg map[string]any, chart []byte, annotations map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	config, _ := json.Marshal(cfg)
	f.blobs[ociDigestOf(config)], f.blobs[ociDigestOf(chart)] = config, chart
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":      map[string]any{"mediaType": helmConfigMediaType, "digest": ociDigestOf(config), "size": len(config)},
		"layers":      []any{map[string]any{"mediaType": helmChartMediaType, "digest": ociDigestOf(chart), "size": len(chart)}},
		"annotations": annotations,
	})
	if f.manifests[repo] == nil {
		f.manifests[repo] = map[string][]byte{}
	}
	f.manifests[repo][tag], f.manifests[repo][ociDigestOf(m)] = m, m
	if !slices.Contains(f.tags[repo], tag) {
		f.tags[repo] = append(f.tags[repo], tag)
		slices.Sort(f.tags[repo])
	}
	return ociDigestOf(m)
}

// resize makes the chart layer of repo:tag claim size bytes (a new manifest under the tag).
func (f *fakeRegistry) resize(repo, tag string, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(f.manifests[repo][tag], &m)
	m["layers"].([]any)[0].(map[string]any)["size"] = size
	b, _ := json.Marshal(m)
	f.manifests[repo][tag], f.manifests[repo][ociDigestOf(b)] = b, b
}

// tagOnly lists a tag that points at nothing readable as a chart.
func (f *fakeRegistry) tagOnly(repo, tag string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tags[repo] = append(f.tags[repo], tag)
	slices.Sort(f.tags[repo])
}

func (f *fakeRegistry) authorized(w http.ResponseWriter, r *http.Request) bool {
	if f.user == "" {
		return true
	}
	if f.bearer {
		if r.Header.Get("Authorization") == "Bearer tok-"+f.user {
			return true
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake"`, f.srv.URL+"/token"))
	} else {
		if u, p, ok := r.BasicAuth(); ok && u == f.user && p == f.password {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
	}
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	return false
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	if r.URL.Path == "/token" { // distribution's token auth: basic credentials for a token
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.password {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"token":"tok-` + f.user + `"}`))
		return
	}
	if !f.authorized(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(rest, "/tags/list"):
		f.tagGets.Add(1)
		f.serveTags(w, r, strings.TrimSuffix(rest, "/tags/list"))
	case strings.Contains(rest, "/manifests/"):
		f.manifestGets.Add(1)
		repo, ref, _ := strings.Cut(rest, "/manifests/")
		m, ok := f.manifests[repo][ref]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", ociDigestOf(m))
		w.Header().Set("Content-Length", strconv.Itoa(len(m)))
		_, _ = w.Write(m)
	case strings.Contains(rest, "/blobs/"):
		_, d, _ := strings.Cut(rest, "/blobs/")
		b, ok := f.blobs[d]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeRegistry) serveTags(w http.ResponseWriter, r *http.Request, repo string) {
	tags, ok := f.tags[repo]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`))
		return
	}
	if f.broken != "" {
		_, _ = w.Write([]byte(f.broken))
		return
	}
	last := r.URL.Query().Get("last")
	i := 0
	if last != "" {
		i, _ = slices.BinarySearch(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
	}
	end := min(i+f.pageSize, len(tags))
	if end < len(tags) {
		next := url.Values{"last": {tags[end-1]}, "n": {strconv.Itoa(f.pageSize)}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?%s>; rel="next"`, repo, next.Encode()))
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags[i:end]})
}
