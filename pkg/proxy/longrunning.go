package proxy

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// subresourcePrefix is the path of the clusters/proxy subresource up to the cluster name.
var subresourcePrefix = "/apis/" + v1alpha1.GroupName + "/" + v1alpha1.SchemeGroupVersion.Version + "/clusters/"

// memberRequestInfo reads a member path the way a member's kube-apiserver does.
var memberRequestInfo = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// memberLongRunning is kube-apiserver's own rule: watches, proxies and streaming
// subresources run as long as the client wants.
var memberLongRunning = genericfilters.BasicLongRunningRequestCheck(
	sets.NewString("watch", "proxy"), sets.NewString("attach", "exec", "proxy", "log", "portforward"))

// LongRunningCheck judges a proxied request by what it asks of the member, so a proxied
// GET of one pod is a short request here too (audited once, drained on shutdown) and a
// proxied watch, exec or logs -f is long-running. (The proxied chain has no request
// timeout: the member applies its own.) Every other
// request is left to delegate. A proxied request whose member path cannot be read counts
// as long-running: cutting a stream would be worse than not timing out a short request.
func LongRunningCheck(delegate request.LongRunningRequestCheck) request.LongRunningRequestCheck {
	return func(req *http.Request, info *request.RequestInfo) bool {
		if info == nil || info.Resource != "clusters" || info.Subresource != "proxy" || info.APIGroup != v1alpha1.GroupName {
			return delegate(req, info)
		}
		if httpstream.IsUpgradeRequest(req) {
			return true
		}
		path, ok := memberPath(req, info.Name)
		if !ok {
			return true
		}
		u := *req.URL
		u.Path, u.RawPath = path, ""
		member := new(http.Request) // shallow: only the method and URL are read
		*member = *req
		member.URL = &u
		memberInfo, err := memberRequestInfo.NewRequestInfo(member)
		if err != nil {
			return true
		}
		return memberLongRunning(member, memberInfo)
	}
}

// memberPath is the path a proxied request asks of the member, on either path to it.
func memberPath(req *http.Request, name string) (string, bool) {
	path := req.URL.Path
	if rest, ok := strings.CutPrefix(path, ClusterPathPrefix+name); ok {
		return rest, rest == "" || strings.HasPrefix(rest, "/")
	}
	rest, ok := strings.CutPrefix(path, subresourcePrefix+name+"/proxy")
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return "", false
	}
	if rest == "" {
		// The subresource also takes the member path as ?path=.
		rest = req.URL.Query().Get("path")
	}
	return rest, true
}

// IsProxyPath tells whether path reaches a member: /clusters/{name}/... or the
// clusters/{name}/proxy subresource.
func IsProxyPath(path string) bool {
	if strings.HasPrefix(path, ClusterPathPrefix) {
		return true
	}
	rest, ok := strings.CutPrefix(path, subresourcePrefix)
	if !ok {
		return false
	}
	_, sub, _ := strings.Cut(rest, "/")
	return sub == "proxy" || strings.HasPrefix(sub, "proxy/")
}
