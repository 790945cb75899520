package secureserving

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
)

// withAuth is kube-controller-manager's and kube-scheduler's filter chain, as
// k8s.io/apiserver's filters build it (they are not linked: see doc.go): every caller
// is authenticated (by the host's TokenReview, or a client certificate of the host's CAs;
// anyone else is system:anonymous), then authorized by the host's SubjectAccessReview for
// the path as a non-resource URL, except --authorization-always-allow-paths. A credential
// the host rejects gets 401, a caller without the right 403, a review that fails 500.
func withAuth(h http.Handler, authn AuthenticationInfo, authz AuthorizationInfo) http.Handler {
	// No API prefixes: every path is a non-resource URL (verb get for GET).
	resolver := &apirequest.RequestInfoFactory{}
	h = withAuthorization(h, authz.Authorizer, resolver)
	h = withAuthentication(h, authn)
	h = withCacheControl(h)
	h = withHTTPLogging(h)
	return withPanicRecovery(h)
}

// The front proxy's standard headers are removed from every authenticated request, as
// upstream does, whatever headers --requestheader-* name.
var standardRequestHeaders = struct {
	user, uid, group, extra headerrequest.StaticStringSlice
}{
	headerrequest.StaticStringSlice{"X-Remote-User"}, headerrequest.StaticStringSlice{"X-Remote-Uid"},
	headerrequest.StaticStringSlice{"X-Remote-Group"}, headerrequest.StaticStringSlice{"X-Remote-Extra-"},
}

func withAuthentication(h http.Handler, authn AuthenticationInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		resp, ok, err := authn.Authenticator.AuthenticateRequest(req)
		if err != nil || !ok {
			if err != nil {
				klog.ErrorS(err, "Unable to authenticate the request")
			}
			// UnauthenticatedHTTP2DOSMitigation (on by default upstream): an HTTP/2
			// connection that fails to authenticate is not kept open.
			if req.ProtoMajor == 2 {
				w.Header().Set("Connection", "close")
			}
			writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		// The credentials go no further than here.
		req.Header.Del("Authorization")
		s := standardRequestHeaders
		headerrequest.ClearAuthenticationHeaders(req.Header, s.user, s.uid, s.group, s.extra)
		if rh := authn.RequestHeader; rh != nil {
			headerrequest.ClearAuthenticationHeaders(req.Header, rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes)
		}
		if req.ProtoMajor == 2 && isAnonymous(resp.User) {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, req.WithContext(apirequest.WithUser(req.Context(), resp.User)))
	})
}

func isAnonymous(u user.Info) bool {
	if u.GetName() == user.Anonymous {
		return true
	}
	for _, g := range u.GetGroups() {
		if g == user.AllUnauthenticated {
			return true
		}
	}
	return false
}

func withAuthorization(h http.Handler, a authorizer.Authorizer, resolver apirequest.RequestInfoResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, err := resolver.NewRequestInfo(req)
		if err != nil {
			internalError(w, req, err)
			return
		}
		attrs := authorizer.AttributesRecord{
			ResourceRequest: info.IsResourceRequest, Path: info.Path, Verb: info.Verb,
			APIGroup: info.APIGroup, APIVersion: info.APIVersion, Resource: info.Resource,
			Subresource: info.Subresource, Namespace: info.Namespace, Name: info.Name,
		}
		if u, ok := apirequest.UserFrom(req.Context()); ok {
			attrs.User = u
		}
		decision, reason, err := a.Authorize(req.Context(), attrs)
		if decision == authorizer.DecisionAllow {
			h.ServeHTTP(w, req)
			return
		}
		if err != nil {
			internalError(w, req, err)
			return
		}
		klog.V(4).InfoS("Forbidden", "URI", req.RequestURI, "reason", reason)
		writeStatus(w, forbidden(attrs, reason))
	})
}

// htmlEscaper keeps a path or a user name from being read as markup, as upstream does.
var htmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;")

// forbidden is upstream's 403 for a non-resource request.
func forbidden(a authorizer.Attributes, reason string) *apierrors.StatusError {
	name := ""
	if u := a.GetUser(); u != nil {
		name = u.GetName()
	}
	msg := htmlEscaper.Replace(fmt.Sprintf("User %q cannot %s path %q", name, a.GetVerb(), a.GetPath()))
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("%s", msg))
}

// writeStatus writes err as a Kubernetes Status in JSON.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	status := err.ErrStatus
	status.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	body, _ := json.Marshal(status)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(body)
}

func internalError(w http.ResponseWriter, req *http.Request, err error) {
	klog.ErrorS(err, "Internal error", "URI", req.RequestURI)
	http.Error(w, htmlEscaper.Replace(fmt.Sprintf("Internal Server Error: %q: %v", req.RequestURI, err)), http.StatusInternalServerError)
}

func withCacheControl(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, ok := w.Header()["Cache-Control"]; !ok {
			w.Header().Set("Cache-Control", "no-cache, private")
		}
		h.ServeHTTP(w, req)
	})
}

// withHTTPLogging logs every request at -v=3, as upstream's httplog does.
func withHTTPLogging(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !klog.V(3).Enabled() {
			h.ServeHTTP(w, req)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			klog.V(3).InfoS("HTTP", "verb", req.Method, "URI", req.RequestURI, "latency", time.Since(start),
				"userAgent", req.UserAgent(), "srcIP", req.RemoteAddr, "resp", sw.status)
		}()
		h.ServeHTTP(sw, req)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer (flushes).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func withPanicRecovery(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				klog.ErrorS(nil, "Observed a panic", "method", req.Method, "URI", req.RequestURI, "panic", r, "stack", string(debug.Stack()))
				http.Error(w, "This request caused apiserver to panic. Look in the logs for details.", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, req)
	})
}
