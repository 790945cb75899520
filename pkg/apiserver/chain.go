package apiserver

import (
	"net/http"

	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"kubesphere.io/multicluster/pkg/proxy"
)

// buildHandlerChain gives proxied requests (/clusters/{name}/... and clusters/{name}/proxy)
// a chain made for a proxy hop and every other request the generic server's default chain.
//
// A proxied request keeps every filter that decides or records who did what: audit,
// authentication, impersonation, authorization, panic recovery. It skips what only costs
// time on a hop whose real work happens on the member: OpenTelemetry tracing and filter
// latency tracking (a span and several timestamps per request), and priority and
// fairness / max-in-flight and request timeouts: the member applies its own to what it
// serves (to the calling user, by impersonation), and this hop bounds its wait to connect
// to the member (pkg/clusterconn).
func buildHandlerChain(api http.Handler, c *genericapiserver.Config) http.Handler {
	full := genericapiserver.DefaultBuildHandlerChain(api, c)
	proxied := proxyHandlerChain(api, c)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if proxy.IsProxyPath(req.URL.Path) {
			growStack()
			proxied.ServeHTTP(w, req)
			return
		}
		full.ServeHTTP(w, req)
	})
}

// proxyHandlerChain is DefaultBuildHandlerChain without tracing, latency tracking, flow
// control and timeouts; the order of the filters it keeps is the same.
func proxyHandlerChain(api http.Handler, c *genericapiserver.Config) http.Handler {
	h := genericapifilters.WithAuthorization(api, c.Authorization.Authorizer, c.Serializer)
	if c.FeatureGate.Enabled(genericfeatures.ConstrainedImpersonation) {
		h = impersonation.WithConstrainedImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	} else {
		h = impersonation.WithImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	}
	h = genericapifilters.WithAudit(h, c.AuditBackend, c.AuditPolicyRuleEvaluator, c.LongRunningFunc)
	failed := genericapifilters.Unauthorized(c.Serializer)
	failed = genericapifilters.WithFailedAuthenticationAudit(failed, c.AuditBackend, c.AuditPolicyRuleEvaluator)
	h = genericapifilters.WithAuthentication(h, c.Authentication.Authenticator, failed, c.Authentication.APIAudiences, c.Authentication.RequestHeaderConfig)
	h = genericapifilters.WithWarningRecorder(h)
	h = genericfilters.WithWaitGroup(h, c.LongRunningFunc, c.NonLongRunningRequestWaitGroup)
	h = genericapifilters.WithCacheControl(h)
	h = genericfilters.WithHSTS(h, c.HSTSDirectives)
	h = genericfilters.WithHTTPLogging(h)
	h = genericapifilters.WithRequestInfo(h, c.RequestInfoResolver)
	h = genericapifilters.WithRequestReceivedTimestamp(h)
	h = genericfilters.WithPanicRecovery(h, c.RequestInfoResolver)
	h = genericapifilters.WithAuditInit(h)
	return h
}

// proxyStackFrame is more than half of the 32 KiB stack a proxied request grows to (in
// profiles the request's goroutine grew from 8 to 16, then 32 KiB).
const proxyStackFrame = 20 << 10

// stackIndex is a variable so that the compiler keeps growStack's frame.
var stackIndex = 1

// growStack grows the calling goroutine's stack to 32 KiB in one step, while it holds only
// the HTTP/2 server's few frames. Each HTTP/2 request runs on a new goroutine that starts
// with a small stack; left alone it grew twice deep in the filter chain, and each growth
// copies the stack and walks every frame on it, a visible share of this server's CPU in
// profiles. BenchmarkGrowStack shows the difference alone.
//
//go:noinline
func growStack() byte {
	var frame [proxyStackFrame]byte
	frame[stackIndex] = 1
	return frame[stackIndex+1]
}
