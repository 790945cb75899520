package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authentication/user"
)

// The filter chain tests send requests through the chain Complete installs
// (buildHandlerChain) on both of its branches: the hand-ordered proxied chain
// (/clusters/{name}/... and the clusters/{name}/proxy subresource) and the generic default
// chain (every other path, here a Cluster GET), so that each outcome of the proxied chain
// is checked against upstream's.

// Without credentials, or with a token nobody knows, a request ends in the authentication
// filter: 401, no authorization check, nothing behind it runs, and the failed
// authentication is audited (one event, at ResponseStarted, as upstream does).
func TestChainUnauthenticated(t *testing.T) {
	for _, p := range paths {
		for _, token := range []string{"", "stolen-token"} {
			uri := p.uri
			t.Run(p.name+"/token="+token, func(t *testing.T) {
				f := newChainFixture(t, fixtureOptions{rules: []rule{{}}}) // everything allowed
				assert.Equal(t, http.StatusUnauthorized, f.do(t, http.MethodGet, uri, token, nil))
				assert.Empty(t, f.inner.reachedBy(uri), "inner handler reached")
				assert.Empty(t, f.authz.recorded(), "authorizer asked")
				evs := f.audit.of(uri)
				require.Len(t, evs, 1)
				assert.Equal(t, started, evs[0].Stage)
				assert.EqualValues(t, http.StatusUnauthorized, evs[0].ResponseStatus.Code)
				assert.Empty(t, evs[0].User.Username)
			})
		}
	}
}

// An authenticated user without the right gets 403 from the authorization filter, which
// asked once, as that user, for the verb the request means on clusters/proxy: a GET is a
// get, a POST a create, and an upgrade (exec, attach, port-forward) a create whatever its
// method. The 403 is audited with the user and the forbid decision.
func TestChainForbidden(t *testing.T) {
	for _, tc := range []struct {
		name, method, uri string
		header            http.Header
		want              authzCall
		stages            []auditinternal.Stage
	}{
		{"cluster-path GET", http.MethodGet, clusterPath, nil, proxyCheck("carol", "get"), []auditinternal.Stage{received, complete}},
		{"cluster-path POST", http.MethodPost, clusterPath, nil, proxyCheck("carol", "create"), []auditinternal.Stage{received, complete}},
		// An upgrade is long-running (LongRunningCheck): audited at ResponseStarted too.
		{"cluster-path upgrade", http.MethodGet, clusterPath, upgrade, proxyCheck("carol", "create"), []auditinternal.Stage{received, started, complete}},
		{"subresource GET", http.MethodGet, subresourcePath, nil, proxyCheck("carol", "get"), []auditinternal.Stage{received, complete}},
		{"subresource POST", http.MethodPost, subresourcePath, nil, proxyCheck("carol", "create"), []auditinternal.Stage{received, complete}},
		{"subresource upgrade", http.MethodGet, subresourcePath, upgrade, proxyCheck("carol", "create"), []auditinternal.Stage{received, started, complete}},
		// Off the proxy paths an upgrade keeps its method's verb.
		{"default-chain GET", http.MethodGet, resourcePath, nil, clusterCheck("carol", "get"), []auditinternal.Stage{received, complete}},
		{"default-chain upgrade", http.MethodGet, resourcePath, upgrade, clusterCheck("carol", "get"), []auditinternal.Stage{received, complete}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// alice may do anything, carol nothing.
			f := newChainFixture(t, fixtureOptions{rules: []rule{{user: "alice"}}})
			assert.Equal(t, http.StatusForbidden, f.do(t, tc.method, tc.uri, "carol-token", tc.header))
			assert.Empty(t, f.inner.reachedBy(tc.uri), "inner handler reached")
			assert.Equal(t, []authzCall{tc.want}, f.authz.recorded())
			assert.Equal(t, tc.stages, f.audit.stages(tc.uri))
			ev := f.audit.last(tc.uri)
			require.NotNil(t, ev)
			assert.EqualValues(t, http.StatusForbidden, ev.ResponseStatus.Code)
			assert.Equal(t, "carol", ev.User.Username)
			assert.Equal(t, tc.want.Verb, ev.Verb)
			assert.Equal(t, "forbid", ev.Annotations["authorization.k8s.io/decision"])
		})
	}
}

// Authentication runs before authorization: the authorizer sees the user the token
// authenticated, and so does the handler, which no longer sees the token (the proxy must
// not pass the client's credential on to the member).
func TestChainAuthorized(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		want      authzCall
	}{
		{"cluster-path", clusterPath, proxyCheck("alice", "get")},
		{"subresource", subresourcePath, proxyCheck("alice", "get")},
		{"default-chain", resourcePath, clusterCheck("alice", "get")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newChainFixture(t, fixtureOptions{rules: []rule{{user: "alice"}}})
			assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, tc.uri, "alice-token", nil))
			assert.Equal(t, []authzCall{tc.want}, f.authz.recorded())
			seen := f.inner.reachedBy(tc.uri)
			require.Len(t, seen, 1)
			assert.Equal(t, "alice", seen[0].User)
			assert.Equal(t, "get", seen[0].Verb)
			assert.Empty(t, seen[0].Authorization, "the bearer token reached the handler")
			ev := f.audit.last(tc.uri)
			require.NotNil(t, ev)
			assert.Equal(t, complete, ev.Stage)
			assert.EqualValues(t, http.StatusOK, ev.ResponseStatus.Code)
			assert.Equal(t, "alice", ev.User.Username)
			assert.Equal(t, "allow", ev.Annotations["authorization.k8s.io/decision"])
		})
	}
}

// Impersonation runs between authentication and authorization: the impersonation checks
// are asked as the authenticated user, then the request's own check as the impersonated
// one, who is the user the handler (and so the member) sees. Audit records both: the
// authenticated user as user, the impersonated one as impersonatedUser. Both
// impersonation filters are covered: ConstrainedImpersonation (beta, on by default) tries
// its constrained modes before the legacy impersonate verb.
func TestChainImpersonation(t *testing.T) {
	bobMayGet := rule{user: "bob", verb: "get"}
	legacyGrant := rule{user: "alice", verb: "impersonate", resource: "users", name: "bob"}
	legacyAsk := authzCall{User: "alice", Verb: "impersonate", Resource: "users", Name: "bob"}
	for _, path := range []struct {
		name, uri string
		check     func(u, verb string) authzCall
	}{{"cluster-path", clusterPath, proxyCheck}, {"subresource", subresourcePath, proxyCheck}, {"default-chain", resourcePath, clusterCheck}} {
		t.Run(path.name, func(t *testing.T) {
			// What alice is asked before her legacy right to impersonate bob is found: the
			// user-info mode's per-verb check, which she does not have.
			constrainedAsk := path.check("alice", "impersonate-on:user-info:get")
			for _, tc := range []struct {
				name       string
				legacy     bool
				rules      []rule
				token      string
				code       int
				calls      []authzCall
				constraint string
			}{
				{"legacy filter, allowed", true, []rule{legacyGrant, bobMayGet}, "alice-token", http.StatusOK,
					[]authzCall{legacyAsk, path.check("bob", "get")}, ""},
				{"constrained filter, legacy right", false, []rule{legacyGrant, bobMayGet}, "alice-token", http.StatusOK,
					[]authzCall{constrainedAsk, legacyAsk, path.check("bob", "get")}, ""},
				{"constrained filter, constrained right", false, []rule{
					{user: "alice", verb: "impersonate-on:user-info:get"},
					{user: "alice", verb: "impersonate:user-info", resource: "users", name: "bob"},
					bobMayGet,
				}, "alice-token", http.StatusOK, []authzCall{
					constrainedAsk,
					{User: "alice", Verb: "impersonate:user-info", APIGroup: "authentication.k8s.io", Resource: "users", Name: "bob"},
					path.check("bob", "get"),
				}, "impersonate:user-info"},
				// carol may not impersonate: 403 before the request's own check.
				{"legacy filter, denied", true, []rule{legacyGrant, bobMayGet}, "carol-token", http.StatusForbidden,
					[]authzCall{{User: "carol", Verb: "impersonate", Resource: "users", Name: "bob"}}, ""},
				{"constrained filter, denied", false, []rule{legacyGrant, bobMayGet}, "carol-token", http.StatusForbidden,
					[]authzCall{path.check("carol", "impersonate-on:user-info:get"), {User: "carol", Verb: "impersonate", Resource: "users", Name: "bob"}}, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := newChainFixture(t, fixtureOptions{rules: tc.rules, legacyImpersonation: tc.legacy})
					code := f.do(t, http.MethodGet, path.uri, tc.token, http.Header{"Impersonate-User": {"bob"}})
					assert.Equal(t, tc.code, code)
					assert.Equal(t, tc.calls, f.authz.recorded())
					ev := f.audit.last(path.uri)
					require.NotNil(t, ev)
					assert.Equal(t, complete, ev.Stage)
					assert.EqualValues(t, tc.code, ev.ResponseStatus.Code)
					seen := f.inner.reachedBy(path.uri)
					if tc.code != http.StatusOK {
						assert.Empty(t, seen, "inner handler reached")
						assert.Equal(t, "carol", ev.User.Username)
						assert.Nil(t, ev.ImpersonatedUser)
						return
					}
					require.Len(t, seen, 1)
					assert.Equal(t, "bob", seen[0].User)
					// Impersonated users get system:authenticated, not the requester's groups.
					assert.Equal(t, []string{user.AllAuthenticated}, seen[0].Groups)
					assert.Empty(t, seen[0].Impersonate, "the impersonation header reached the handler")
					assert.Equal(t, "alice", ev.User.Username)
					require.NotNil(t, ev.ImpersonatedUser)
					assert.Equal(t, "bob", ev.ImpersonatedUser.Username)
					constraint := ""
					if ev.AuthenticationMetadata != nil {
						constraint = ev.AuthenticationMetadata.ImpersonationConstraint
					}
					assert.Equal(t, tc.constraint, constraint)
				})
			}
		})
	}
}

// A panic behind the chain: on both chains the panic recovery filter writes a 500 and the
// audit filter records stage Panic with code 500, as the authenticated user. The panic
// then goes on to net/http (WithPanicRecovery re-panics: utilruntime.ReallyCrash is true
// and this server leaves it so), which drops the connection: the client gets no response.
func TestChainPanic(t *testing.T) {
	type outcome struct {
		code    int
		escaped any
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			outcomes := make(chan outcome, 1)
			f := newChainFixture(t, fixtureOptions{rules: []rule{{}}, quiet: true,
				serve: func(http.ResponseWriter, *http.Request) { panic("a bug behind the chain") },
				outer: func(chain http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
						cw := &codeWriter{ResponseWriter: w}
						defer func() {
							r := recover()
							outcomes <- outcome{cw.code, r}
							if r != nil {
								panic(r)
							}
						}()
						chain.ServeHTTP(cw, req)
					})
				}})
			_, err := f.send(http.MethodGet, p.uri, "alice-token", nil)
			assert.ErrorIs(t, err, io.EOF, "the client got a response")
			out := <-outcomes
			assert.Equal(t, http.StatusInternalServerError, out.code, "status the chain wrote")
			// The default chain's timeout filter re-panics with the handler goroutine's stack appended.
			assert.True(t, strings.HasPrefix(fmt.Sprint(out.escaped), "a bug behind the chain"), "panic out of the chain: %v", out.escaped)
			assert.Equal(t, []auditinternal.Stage{received, auditinternal.StagePanic}, f.audit.stages(p.uri))
			ev := f.audit.last(p.uri)
			require.NotNil(t, ev)
			assert.EqualValues(t, http.StatusInternalServerError, ev.ResponseStatus.Code)
			assert.Equal(t, "alice", ev.User.Username)
		})
	}
}

// The proxied chain's audit and wait group judge a proxied request by what it asks of the
// member (LongRunningCheck): a watch, logs -f or an upgrade is audited when its response
// starts and again when it completes; a GET of one pod only when it completes.
func TestChainLongRunningAudit(t *testing.T) {
	sub := "/apis/clusters.kubesphere.io/v1alpha1/clusters/member1/proxy"
	long := []auditinternal.Stage{received, started, complete}
	short := []auditinternal.Stage{received, complete}
	for _, tc := range []struct {
		name, uri string
		header    http.Header
		stages    []auditinternal.Stage
	}{
		{"cluster-path watch", watchPath, nil, long},
		{"subresource watch", sub + "/api/v1/namespaces/default/pods?watch=true", nil, long},
		{"subresource ?path= watch", sub + "?path=/api/v1/namespaces/default/pods&watch=true", nil, long},
		{"legacy watch path", "/clusters/member1/api/v1/watch/namespaces/default/pods", nil, long},
		{"logs -f", "/clusters/member1/api/v1/namespaces/default/pods/p/log?follow=true", nil, long},
		{"exec upgrade", "/clusters/member1/api/v1/namespaces/default/pods/p/exec?command=sh", upgrade, long},
		{"cluster-path get", clusterPath, nil, short},
		{"subresource get", subresourcePath, nil, short},
		{"cluster-path list", "/clusters/member1/api/v1/namespaces/default/pods", nil, short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newChainFixture(t, fixtureOptions{rules: []rule{{}}, serve: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
				_ = http.NewResponseController(w).Flush()
				_, _ = io.WriteString(w, "event\n")
			}})
			assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, tc.uri, "alice-token", tc.header))
			assert.Equal(t, tc.stages, f.audit.stages(tc.uri))
			ev := f.audit.last(tc.uri)
			require.NotNil(t, ev)
			assert.EqualValues(t, http.StatusOK, ev.ResponseStatus.Code)
		})
	}
}

// A short proxied request holds the server's drain at shutdown (WithWaitGroup counts it),
// a long-running one does not: the proxy core ends those itself (Proxy.Shutdown).
func TestChainShutdownDrain(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		drained   bool
	}{{"short", clusterPath, false}, {"watch", watchPath, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var f *chainFixture
			var drained bool
			f = newChainFixture(t, fixtureOptions{rules: []rule{{}}, serve: func(http.ResponseWriter, *http.Request) {
				waited := make(chan struct{})
				go func() {
					f.config.NonLongRunningRequestWaitGroup.Wait()
					close(waited)
				}()
				select {
				case <-waited:
					drained = true
				case <-time.After(100 * time.Millisecond):
				}
			}})
			assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, tc.uri, "alice-token", nil))
			assert.Equal(t, tc.drained, drained, "wait group drained while the request ran")
		})
	}
}

// The proxied chain has no request timeout: a proxied request that outlasts the server's
// request timeout still completes, and its context has no deadline (the member and
// pkg/clusterconn bound it). The default chain cuts the same handler off with a 504. A
// client's ?timeout= is not applied on this hop either: it goes on to the member.
func TestChainRequestTimeout(t *testing.T) {
	const delay = 3 * requestTimeout
	for _, tc := range []struct {
		name, uri string
		code      int
		deadline  bool
	}{
		// A GET of one pod: short for LongRunningCheck, and still not cut.
		{"cluster-path", clusterPath, http.StatusOK, false},
		{"subresource", subresourcePath, http.StatusOK, false},
		{"default-chain", resourcePath, http.StatusGatewayTimeout, true},
		{"cluster-path ?timeout=", clusterPath + "?timeout=50ms", http.StatusOK, false},
		{"default-chain ?timeout=", resourcePath + "?timeout=50ms", http.StatusGatewayTimeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			f := newChainFixture(t, fixtureOptions{rules: []rule{{}}, serve: func(w http.ResponseWriter, _ *http.Request) {
				defer close(done)
				time.Sleep(delay) // not watching the context: a handler slow to notice
				_, _ = io.WriteString(w, "late")
			}})
			start := time.Now()
			code := f.do(t, http.MethodGet, tc.uri, "alice-token", nil)
			took := time.Since(start)
			<-done // the default chain's timeout leaves the handler running
			assert.Equal(t, tc.code, code)
			if tc.code == http.StatusOK {
				assert.GreaterOrEqual(t, took, delay)
			} else {
				assert.Less(t, took, delay)
			}
			seen := f.inner.reachedBy(tc.uri)
			require.Len(t, seen, 1)
			assert.Equal(t, tc.deadline, seen[0].HasDeadline, "handler's context has a deadline")
		})
	}
}

// deepChain stands for a proxied request's handler chain: depth frames of about 400 bytes
// each, some 24 KiB of stack in all.
//
//go:noinline
func deepChain(depth int) byte {
	var locals [384]byte
	locals[depth%len(locals)] = byte(depth)
	if depth == 0 {
		return locals[0]
	}
	return deepChain(depth-1) + locals[1]
}

// BenchmarkGrowStack runs a deep call chain on a new goroutine per operation, as the
// HTTP/2 server runs each request: with Go's starting stack, which grows (and is copied,
// every frame walked) as the chain deepens, and after growStack, which grows it once while
// it is shallow.
func BenchmarkGrowStack(b *testing.B) {
	for _, bm := range []struct {
		name string
		grow bool
	}{{"starting-stack", false}, {"growStack-first", true}} {
		b.Run(bm.name, func(b *testing.B) {
			done := make(chan byte)
			for b.Loop() {
				go func() {
					if bm.grow {
						growStack()
					}
					done <- deepChain(60)
				}()
				<-done
			}
		})
	}
}
