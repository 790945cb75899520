package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestLongRunningCheck(t *testing.T) {
	const sub = "/apis/clusters.kubesphere.io/v1alpha1/clusters/m1/proxy"
	delegateCalled := false
	check := LongRunningCheck(func(*http.Request, *request.RequestInfo) bool { delegateCalled = true; return true })
	proxyInfo := &request.RequestInfo{IsResourceRequest: true, APIGroup: "clusters.kubesphere.io", Resource: "clusters", Subresource: "proxy", Name: "m1"}
	for _, tc := range []struct {
		name, method, target string
		upgrade              bool
		want                 bool
	}{
		{"get one pod", "GET", "/clusters/m1/api/v1/namespaces/default/pods/p", false, false},
		{"list pods", "GET", "/clusters/m1/api/v1/pods?limit=500", false, false},
		{"create", "POST", "/clusters/m1/apis/apps/v1/namespaces/default/deployments", false, false},
		{"discovery", "GET", "/clusters/m1/apis", false, false},
		{"the member root", "GET", "/clusters/m1", false, false},
		{"watch by query", "GET", "/clusters/m1/api/v1/pods?watch=true", false, true},
		{"watch=1", "GET", "/clusters/m1/api/v1/namespaces/a/configmaps?watch=1&allowWatchBookmarks=true", false, true},
		{"legacy watch path", "GET", "/clusters/m1/api/v1/watch/pods", false, true},
		{"logs", "GET", "/clusters/m1/api/v1/namespaces/a/pods/p/log?follow=true", false, true},
		{"exec", "POST", "/clusters/m1/api/v1/namespaces/a/pods/p/exec?command=sh", false, true},
		{"upgrade", "GET", "/clusters/m1/api/v1/namespaces/a/pods/p/portforward", true, true},
		{"service proxy on the member", "GET", "/clusters/m1/api/v1/namespaces/a/services/s/proxy/x", false, true},
		{"subresource get", "GET", sub + "/api/v1/namespaces/default/pods/p", false, false},
		{"subresource watch", "GET", sub + "/api/v1/pods?watch=true", false, true},
		{"subresource ?path=", "GET", sub + "?path=/api/v1/watch/pods", false, true},
		{"unreadable path", "GET", "/clusters/m1x/api", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "SPDY/3.1")
			}
			if got := check(req, proxyInfo); got != tc.want {
				t.Errorf("long-running = %v, want %v", got, tc.want)
			}
		})
	}
	if delegateCalled {
		t.Fatal("a proxied request was judged by the delegate")
	}
	check(httptest.NewRequest("GET", "/apis/clusters.kubesphere.io/v1alpha1/clusters", nil),
		&request.RequestInfo{IsResourceRequest: true, APIGroup: "clusters.kubesphere.io", Resource: "clusters", Verb: "list"})
	if !delegateCalled {
		t.Fatal("a request on clusters was not left to the delegate")
	}
}

func TestIsProxyPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/clusters/m1/api": true,
		"/clusters/":       true,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/m1/proxy":           true,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/m1/proxy/api/v1":    true,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/m1":                 false,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/m1/status":          false,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters/m1/proxyx":          false,
		"/apis/clusters.kubesphere.io/v1alpha1/clusters":                    false,
		"/apis/clusters.kubesphere.io/v1alpha1/namespaces/x/clusters/proxy": false,
		"/healthz": false,
	} {
		if got := IsProxyPath(path); got != want {
			t.Errorf("IsProxyPath(%q) = %v, want %v", path, got, want)
		}
	}
}
