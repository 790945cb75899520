package proxy

// Fuzz tests of the member path: what a client asks for on /clusters/{name}/... and on the
// clusters/{name}/proxy subresource, and what the proxy sends to which member. `go test`
// runs the seeds (f.Add below and testdata/fuzz/<FuzzName>/); `make fuzz` fuzzes each target.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// pathSeeds are member paths worth starting from: dot segments plain and encoded (once,
// twice, in either case), encoded slashes and backslashes, ";" parameters, control
// characters, unicode look-alikes, and a second cluster's name wherever it could be read.
var pathSeeds = []string{
	"", "/", "api", "/api/v1/pods", "/api/v1/namespaces/default/pods/p/log?follow=true",
	"/api/v1/namespaces/a%20b", "/apis/apps/v1/deployments?labelSelector=a%3Db",
	"/..", "/.", "..", ".", "/api/../../clusters/b/api", "/api/./v1", "/api/v1/..",
	"/%2e%2e/b/api", "/%2E%2E", "/.%2e/", "/%2e./", "/%252e%252e/b", "/%25252e%25252e/b",
	"/api%2F..%2Fclusters", "/api%2fv1", "/%252f", "/api\\..\\b", "/api/%5c..%5cb", "/%255c",
	"/api/v1;/..;/b", "/api/..;/b", "/api;a=b/v1", "/api/v1/%0d%0aInjected:%20yes", "/api/\x00",
	"/api/%00", "/api/%7f", "/api/%zz", "/api/%", "/api/%2", "//b/api", "///", "/api//v1",
	"/api/v1/namespaces/%E2%80%A8", "/api/．．/b", "/api/%ef%bc%8e%ef%bc%8e/b", "/api/\u2025/b",
	"/api/%c0%ae%c0%ae/b", "/api/%ff", "/api/v1/pods?path=/clusters/b/api&cluster=b",
	"/api/v1/pods%3Fcluster=b", "/api/v1/pods%23frag", "/api/v1/pods#/../../b",
	"/" + strings.Repeat("a/", 600), "/" + strings.Repeat("../", 50) + "b",
}

// FuzzCleanPath checks cleanPath's promise: whatever it accepts has one leading slash and
// no dot segment, control character, backslash, or encoded slash, dot or backslash behind it;
// it accepts every path that has none of those; and what the proxy then sends a member
// decodes, at the member, to exactly that path, inside the member's endpoint path.
func FuzzCleanPath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := cleanPath(raw)
		if err != nil {
			if !mayRefuse(raw) {
				t.Fatalf("cleanPath(%q) refused a path with no dot segment, encoding, backslash or control character: %v", raw, err)
			}
			return
		}
		lower := strings.ToLower(raw)
		for _, enc := range []string{"%2f", "%2e", "%5c"} {
			if strings.Contains(lower, enc) {
				t.Fatalf("cleanPath(%q) accepted an encoded %s", raw, enc)
			}
		}
		if strings.Contains(raw, "\\") {
			t.Fatalf("cleanPath(%q) accepted a backslash", raw)
		}
		checkMemberPath(t, raw, got)
		want, _ := url.PathUnescape(raw)
		if !strings.HasPrefix(want, "/") {
			want = "/" + want
		}
		if got != want {
			t.Fatalf("cleanPath(%q) = %q, want the path decoded once: %q", raw, got, want)
		}

		// Idempotent on its own output: cleaning what it returned changes nothing. (cleanPath
		// also decodes, so a literal "%" in its output is read as an escape by a second call:
		// hence the check on the output sent on the wire, which is what a second reader gets.)
		if !strings.Contains(got, "%") {
			again, err := cleanPath(got)
			if err != nil || again != got {
				t.Fatalf("cleanPath(cleanPath(%q)) = %q, %v; want %q", raw, again, err, got)
			}
		}
		for _, prefix := range []string{"", "/k8s/clusters/c-1"} {
			location := url.URL{Scheme: "https", Host: "member.example:6443", Path: prefix + got}
			wire := location.RequestURI()
			// The member parses the request line as any server does, and decodes it once.
			parsed, err := url.ParseRequestURI(wire)
			if err != nil {
				t.Fatalf("the member cannot parse the request line %q sent for %q: %v", wire, raw, err)
			}
			if parsed.Path != prefix+got || parsed.RawQuery != "" || parsed.Fragment != "" || parsed.Host != "" {
				t.Fatalf("the member reads %q as path %q query %q host %q; the proxy meant path %q", wire, parsed.Path, parsed.RawQuery, parsed.Host, prefix+got)
			}
			// Resolving dot segments and empty ones never leaves the endpoint's path.
			if clean := path.Clean(parsed.Path); prefix != "" && clean != prefix && !strings.HasPrefix(clean, prefix+"/") {
				t.Fatalf("%q resolves to %q, outside the endpoint path %q", parsed.Path, clean, prefix)
			}
			// A proxy hop that checks the wire path again (cleanPath on the escaped form)
			// reads the same path.
			if again, err := cleanPath(strings.TrimPrefix(parsed.EscapedPath(), prefix)); err != nil || again != got {
				t.Fatalf("cleanPath of the wire form %q = %q, %v; want %q", wire, again, err, got)
			}
		}
	})
}

// mayRefuse tells whether raw holds something cleanPath is there to refuse: a "%" (an
// escape, valid or not), a backslash, a control character, or a dot segment.
func mayRefuse(raw string) bool {
	if strings.ContainsAny(raw, "%\\") {
		return true
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	for _, seg := range strings.Split(raw, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// checkMemberPath fails t unless p is a path a member may be sent: one leading slash, no
// dot segment, no control character, no backslash.
func checkMemberPath(t *testing.T, input, p string) {
	t.Helper()
	if !strings.HasPrefix(p, "/") {
		t.Fatalf("%q became %q, which does not start with /", input, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("%q became %q, which holds a %q segment", input, p, seg)
		}
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			t.Fatalf("%q became %q, which holds the byte %#x", input, p, c)
		}
	}
}

// FuzzClusterPathResolver sends arbitrary request targets under /clusters/ and under the
// clusters/{name}/proxy subresource through the resolver the authorization filter reads and
// the handlers that serve them, to real members. The cluster authorized (RequestInfo.Name)
// is the one served: the member that answers is that cluster's, under its endpoint path,
// whatever dot segments, encodings, doubled slashes, ";" or a second cluster's name in the
// path or the query say. The member path has no dot segment, and on /clusters/ it is
// exactly what LongRunningCheck judged (memberPath).
func FuzzClusterPathResolver(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add("/clusters/a" + s)
		if s == "" || strings.HasPrefix(s, "/") {
			f.Add(subresourcePrefix + "a/proxy" + s)
		}
	}
	for _, s := range []string{
		"/clusters/", "/clusters", "/clusters//b/api", "/clusters/a/../b/api", "/clusters/a/%2e%2e/b/api",
		"/clusters/a%2f..%2fb/api", "/clusters/%61/api", "/clusters/a%2Fb/api", "/clusters/ab/api", "/clusters/a;b/api",
		"/clusters/a/api?cluster=b", "/clusters/b?name=a", "/clusters/../clusters/b/api", "/clusters/./b/api",
		"/clusters/a/..%2fb", "/clusters/A/api", "/clusters/a\x00/api", "/clusters/%25/api", "http://evil/clusters/b/api",
		"/clusters/a/%252e%252e/%252e%252e/b", "/clusters/a/api%3F/../b",
		subresourcePrefix + "b/proxy/../../a/proxy/api", subresourcePrefix + "a/proxy?path=/api/v1/pods",
		subresourcePrefix + "a/proxy?path=/../b/api", subresourcePrefix + "%61/proxy/api", subresourcePrefix + "a%2fproxy/b/proxy",
		subresourcePrefix + "a/proxy/%2e%2e/b", subresourcePrefix + "a/proxy/%252e%252e/b", subresourcePrefix + "a/proxy/%25252e%25252e/b",
		subresourcePrefix + "a/proxy/api/v1/namespaces/x%2520y", subresourcePrefix + "a/proxy/", subresourcePrefix + "a/proxyx/api",
		"/apis/clusters.kubesphere.io/v1alpha1/namespaces/b/clusters/a/proxy/api", subresourcePrefix + "a/proxy//b/api",
	} {
		f.Add(s)
	}
	h := newProxyHarness(f)
	f.Fuzz(func(t *testing.T, target string) {
		req, info, rt, rec, got, ok := h.serve(t, target)
		if !ok || info == nil {
			if len(got) > 0 {
				t.Fatalf("%q reached a member without a RequestInfo", target)
			}
			return
		}
		// The resolver names the first segment after /clusters/, decoded, as the server's
		// router reads the path.
		if rt == routeClusterPath {
			parts := strings.Split(strings.TrimPrefix(req.URL.Path, ClusterPathPrefix), "/")
			if info.Name != parts[0] || info.Resource != "clusters" || info.Subresource != "proxy" || info.APIGroup != v1alpha1.GroupName || info.Namespace != "" {
				t.Fatalf("%q: RequestInfo %+v does not name the cluster %q of the path", target, info, parts[0])
			}
		}
		if rt == routeNone {
			if len(got) > 0 {
				t.Fatalf("%q reached a member on no proxy route", target)
			}
			return
		}
		if len(got) == 0 {
			checkStatusBody(t, target, rec)
			return
		}
		if len(got) > 1 {
			t.Fatalf("%q sent %d requests to members: %+v", target, len(got), got)
		}
		m := got[0]
		if rec.Code != http.StatusOK || rec.Body.String() != "member" {
			t.Fatalf("%q: the member answered, the client got %d %q", target, rec.Code, rec.Body.String())
		}
		// The authorized name is the cluster served, under its own endpoint path.
		prefix := "/members/" + info.Name
		served, ok := strings.CutPrefix(m.path, prefix)
		if !sets.NewString(fuzzClusters...).Has(info.Name) || !ok || (served != "" && !strings.HasPrefix(served, "/")) {
			t.Fatalf("%q was authorized as cluster %q but reached the member path %q", target, info.Name, m.path)
		}
		if c := path.Clean(m.path); c != prefix && !strings.HasPrefix(c, prefix+"/") {
			t.Fatalf("%q was authorized as cluster %q; the member path %q resolves to %q", target, info.Name, m.path, c)
		}
		checkMemberPath(t, target, served)
		if m.user != "fuzz-user" {
			t.Fatalf("%q reached the member as %q, not as the caller", target, m.user)
		}
		// The member gets the client's query parameters (the reverse proxy re-encodes a
		// query holding ";" or a bad escape, dropping the pairs no server could read).
		if !reflect.DeepEqual(queryOf(m.query), queryOf(req.URL.RawQuery)) {
			t.Fatalf("%q: the member got the query %q, the client sent %q", target, m.query, req.URL.RawQuery)
		}
		switch rt {
		case routeClusterPath:
			// What LongRunningCheck judged is what the member got: the path decoded once.
			judged, ok := memberPath(req, info.Name)
			if !ok || (judged != served && (judged != "" || served != "/")) {
				t.Fatalf("%q: LongRunningCheck judged the member path %q (ok %v), the member got %q", target, judged, ok, served)
			}
			if escapedName, _, _ := strings.Cut(strings.TrimPrefix(req.URL.EscapedPath(), ClusterPathPrefix), "/"); escapedName != info.Name {
				t.Fatalf("%q: served cluster %q from the escaped name %q", target, info.Name, escapedName)
			}
		case routeSubresource:
			// The generic server passes the rest of the decoded path as the path option
			// (a ?path= in the query gives way to it, even when there is no rest), which
			// cleanPath decodes once more. So on this route the member path is decoded
			// twice, and it is not memberPath's (which reads it decoded once, and from
			// ?path= when there is no rest): what LongRunningCheck judges can differ from
			// what is served. Only the cluster and the absence of dot segments agree.
			rest := strings.Join(info.Parts[3:], "/")
			if rest != "" && !strings.HasPrefix(rest, "/") {
				rest = "/" + rest
			}
			if strings.HasSuffix(info.Path, "/") && !strings.HasSuffix(rest, "/") {
				rest += "/"
			}
			want, err := cleanPath(rest)
			if err != nil || want != served {
				t.Fatalf("%q: the member got %q; the path option %q cleans to %q, %v", target, served, rest, want, err)
			}
		}
	})
}

func queryOf(raw string) url.Values {
	v, _ := url.ParseQuery(raw)
	return v
}

// checkStatusBody fails t unless rec is a refusal written as a Kubernetes Status.
func checkStatusBody(t *testing.T, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 400 || rec.Code > 599 {
		t.Fatalf("%q reached no member but was answered %d %q", target, rec.Code, rec.Body.String())
	}
	var st metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code || st.Message == "" {
		t.Fatalf("%q: the refusal %d is not a Status: %q (%v)", target, rec.Code, rec.Body.String(), err)
	}
}
