package apiserver

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	baseversion "k8s.io/component-base/version"
)

// Paths the chain tests send requests to. The first three take the proxied chain, the
// last the generic server's default chain.
const (
	clusterPath     = "/clusters/member1/api/v1/namespaces/default/pods/p"
	subresourcePath = "/apis/clusters.kubesphere.io/v1alpha1/clusters/member1/proxy/api/v1/namespaces/default/pods/p"
	watchPath       = "/clusters/member1/api/v1/namespaces/default/pods?watch=true"
	resourcePath    = "/apis/clusters.kubesphere.io/v1alpha1/clusters/member1"
)

// proxyCheck is the authorization check of a proxied request to member1 with verb.
func proxyCheck(u, verb string) authzCall {
	return authzCall{User: u, Verb: verb, APIGroup: "clusters.kubesphere.io", Resource: "clusters", Subresource: "proxy", Name: "member1"}
}

// clusterCheck is the authorization check of the default chain's Cluster request.
func clusterCheck(u, verb string) authzCall {
	return authzCall{User: u, Verb: verb, APIGroup: "clusters.kubesphere.io", Resource: "clusters", Name: "member1"}
}

// paths are one request path per branch: both proxied forms and the default chain.
var paths = []struct{ name, uri string }{
	{"cluster-path", clusterPath},
	{"subresource", subresourcePath},
	{"default-chain", resourcePath},
}

// upgrade makes a request a WebSocket upgrade, as kubectl exec sends one.
var upgrade = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}

var (
	received = auditinternal.StageRequestReceived
	started  = auditinternal.StageResponseStarted
	complete = auditinternal.StageResponseComplete
)

// tokens are the bearer tokens the fake authenticator knows.
var tokens = map[string]user.Info{
	"alice-token": &user.DefaultInfo{Name: "alice", Groups: []string{"admins", user.AllAuthenticated}},
	"carol-token": &user.DefaultInfo{Name: "carol", Groups: []string{user.AllAuthenticated}},
}

// authzCall is what one authorization check asked, read through the Attributes methods
// (the constrained impersonation filter overrides GetVerb on wrapped attributes).
type authzCall struct {
	User, Verb, APIGroup, Resource, Subresource, Name string
}

// rule grants verb on resource (and subresource) to a user; empty fields match anything.
type rule struct {
	user, verb, resource, subresource, name string
}

func (r rule) matches(c authzCall) bool {
	match := func(want, got string) bool { return want == "" || want == got }
	return match(r.user, c.User) && match(r.verb, c.Verb) && match(r.resource, c.Resource) &&
		match(r.subresource, c.Subresource) && match(r.name, c.Name)
}

// recordingAuthorizer allows what its rules allow and records every check, in order.
type recordingAuthorizer struct {
	rules []rule
	mu    sync.Mutex
	calls []authzCall
}

func (a *recordingAuthorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	c := authzCall{Verb: attrs.GetVerb(), APIGroup: attrs.GetAPIGroup(), Resource: attrs.GetResource(),
		Subresource: attrs.GetSubresource(), Name: attrs.GetName()}
	if u := attrs.GetUser(); u != nil {
		c.User = u.GetName()
	}
	a.mu.Lock()
	a.calls = append(a.calls, c)
	a.mu.Unlock()
	if slices.ContainsFunc(a.rules, func(r rule) bool { return r.matches(c) }) {
		return authorizer.DecisionAllow, "test rule", nil
	}
	return authorizer.DecisionNoOpinion, "no test rule", nil
}

func (a *recordingAuthorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions fails closed, as an authorizer without conditions must.
func (a *recordingAuthorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func (a *recordingAuthorizer) recorded() []authzCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// auditSink records a copy of every event at every stage: the filters reuse one event
// object per request and change its stage.
type auditSink struct {
	mu     sync.Mutex
	events []*auditinternal.Event
}

func (s *auditSink) ProcessEvents(evs ...*auditinternal.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.events = append(s.events, ev.DeepCopy())
	}
	return true
}

func (s *auditSink) Run(<-chan struct{}) error { return nil }
func (s *auditSink) Shutdown()                 {}
func (s *auditSink) String() string            { return "test" }

// stages lists the stages audited for uri, in order.
func (s *auditSink) stages(uri string) []auditinternal.Stage {
	var stages []auditinternal.Stage
	for _, ev := range s.of(uri) {
		stages = append(stages, ev.Stage)
	}
	return stages
}

// of lists the events of uri, in order.
func (s *auditSink) of(uri string) []*auditinternal.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var evs []*auditinternal.Event
	for _, ev := range s.events {
		if ev.RequestURI == uri {
			evs = append(evs, ev)
		}
	}
	return evs
}

// last is the last event of uri, nil if there is none.
func (s *auditSink) last(uri string) *auditinternal.Event {
	evs := s.of(uri)
	if len(evs) == 0 {
		return nil
	}
	return evs[len(evs)-1]
}

// reached is what the inner handler saw of one request.
type reached struct {
	User          string
	Groups        []string
	Verb          string
	Authorization string
	Impersonate   string
	HasDeadline   bool
}

// innerHandler stands for the API handlers behind the chain: it records each request that
// reaches it and then does what serve says (200 "ok" when serve is nil).
type innerHandler struct {
	serve func(w http.ResponseWriter, req *http.Request)
	mu    sync.Mutex
	seen  map[string][]reached
}

func (h *innerHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := reached{Authorization: req.Header.Get("Authorization"), Impersonate: req.Header.Get("Impersonate-User")}
	if u, ok := request.UserFrom(req.Context()); ok {
		r.User, r.Groups = u.GetName(), u.GetGroups()
	}
	if info, ok := request.RequestInfoFrom(req.Context()); ok {
		r.Verb = info.Verb
	}
	_, r.HasDeadline = req.Context().Deadline()
	h.mu.Lock()
	h.seen[req.URL.RequestURI()] = append(h.seen[req.URL.RequestURI()], r)
	h.mu.Unlock()
	if h.serve != nil {
		h.serve(w, req)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (h *innerHandler) reachedBy(uri string) []reached {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen[uri])
}

// chainFixture is the server's handler chain, as Complete configures it, over a fake
// authenticator, a recording authorizer and audit sink, and an inner handler.
type chainFixture struct {
	config *genericapiserver.Config
	authz  *recordingAuthorizer
	audit  *auditSink
	inner  *innerHandler
	url    string
	client *http.Client
}

type fixtureOptions struct {
	rules []rule
	serve func(w http.ResponseWriter, req *http.Request)
	// legacyImpersonation turns ConstrainedImpersonation off (beta, on by default), to
	// take proxyHandlerChain's other branch.
	legacyImpersonation bool
	// outer wraps the chain, to see what it does as net/http sees it.
	outer func(http.Handler) http.Handler
	// quiet drops net/http's own log (the stack of a panic that left the chain).
	quiet bool
}

// requestTimeout is the generic server's request timeout in these tests: short, so that
// a handler can outlast it quickly.
const requestTimeout = 200 * time.Millisecond

func newChainFixture(t *testing.T, o fixtureOptions) *chainFixture {
	t.Helper()
	f := &chainFixture{
		authz: &recordingAuthorizer{rules: o.rules},
		audit: &auditSink{},
		inner: &innerHandler{serve: o.serve, seen: map[string][]reached{}},
	}
	var gate featuregate.FeatureGate = utilfeature.DefaultFeatureGate
	if o.legacyImpersonation {
		g := utilfeature.DefaultMutableFeatureGate.DeepCopy()
		if err := g.Set("ConstrainedImpersonation=false"); err != nil {
			t.Fatal(err)
		}
		gate = g
	}
	rc := genericapiserver.NewRecommendedConfig(Codecs)
	// What Complete needs besides the fields under test: an address with a port (else it
	// exits) and an effective version.
	rc.ExternalAddress = "127.0.0.1:6443"
	rc.EffectiveVersion = basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", "")
	rc.FeatureGate = gate
	rc.RequestTimeout = requestTimeout
	rc.Authentication.Authenticator = bearertoken.New(authenticator.TokenFunc(
		func(_ context.Context, token string) (*authenticator.Response, bool, error) {
			u, ok := tokens[token]
			if !ok {
				return nil, false, nil
			}
			return &authenticator.Response{User: u}, true, nil
		}))
	rc.Authorization.Authorizer = f.authz
	rc.AuditBackend = f.audit
	rc.AuditPolicyRuleEvaluator = policy.NewFakePolicyRuleEvaluator(auditinternal.LevelMetadata, nil)
	// Complete is the production wiring: the proxy RequestInfoResolver and LongRunningFunc,
	// authncache and buildHandlerChain itself. The test builds the handler the way
	// GenericConfig.New would, without etcd, storage or a listener of the server's own.
	cfg := &Config{GenericConfig: rc}
	cfg.Complete()
	f.config = &rc.Config
	var h http.Handler = rc.BuildHandlerChainFunc(f.inner, f.config)
	if o.outer != nil {
		h = o.outer(h)
	}
	srv := httptest.NewUnstartedServer(h)
	if o.quiet {
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f.url, f.client = srv.URL, srv.Client()
	return f
}

// do sends method uri with the token (none if empty) and extra headers; it returns the
// status code.
func (f *chainFixture) do(t *testing.T, method, uri, token string, header http.Header) int {
	t.Helper()
	code, err := f.send(method, uri, token, header)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// send is do that returns the client's error.
func (f *chainFixture) send(method, uri, token string, header http.Header) (int, error) {
	req, err := http.NewRequest(method, f.url+uri, nil)
	if err != nil {
		return 0, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// codeWriter records the status code written through it.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
