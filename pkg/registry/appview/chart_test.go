package appview_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	restclient "k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/pkg/registry/appview"
)

// charts is a ChartSource that answers from a map of "<repo>/<chart>/<version>", and
// records what it was asked.
type charts struct {
	mu     sync.Mutex
	asked  []string
	answer map[string]func() ([]byte, error)
}

func (c *charts) Chart(_ context.Context, repo, chart, version string) ([]byte, error) {
	key := repo + "/" + chart + "/" + version
	c.mu.Lock()
	c.asked = append(c.asked, key)
	c.mu.Unlock()
	if f, ok := c.answer[key]; ok {
		return f()
	}
	return nil, apierrors.NewNotFound(appstore.Resource("applicationversions"), key)
}

func TestChartSubresource(t *testing.T) {
	_, apps, vers := appview.Fixture(t)
	archive := []byte("\x1f\x8b fake archive")
	src := &charts{answer: map[string]func() ([]byte, error){
		"main/nginx/2.0.0":         func() ([]byte, error) { return archive, nil },
		"main/redis/7.0.0+build.1": func() ([]byte, error) { return archive, nil },
		"main/nginx/1.0.0": func() ([]byte, error) {
			return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadGateway,
				Reason: appstore.ChartReasonDigestMismatch, Message: "the archive's digest is sha256:aa, the index lists sha256:bb"}}
		},
	}}
	s := newServer(t, apps, vers, map[string]rest.Storage{"applicationversions/chart": appview.NewChartStorage(vers, src, nil)})
	get := func(name, accept string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.url+"/apis/appstore.kubesphere.io/v1alpha1/applicationversions/"+name+"/chart", nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	status := func(body []byte) metav1.Status {
		t.Helper()
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("not a Status: %q", body)
		}
		return st
	}

	// As kubectl get --raw and client-go ask (Accept application/json, */*), and with no
	// Accept at all; the name is looked up, not parsed (the version's segment is hashed).
	for _, c := range []struct{ name, accept string }{
		{"main.nginx.2.0.0", "application/json, */*"},
		{"main.redis." + appview.Hashed("7.0.0+build.1"), ""},
		{"main.nginx.2.0.0", "*/*"},
	} {
		resp, body := get(c.name, c.accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != appview.ChartContentType || string(body) != string(archive) {
			t.Fatalf("%s: %s %q %q", c.name, resp.Status, resp.Header.Get("Content-Type"), body)
		}
	}
	if want := []string{"main/nginx/2.0.0", "main/redis/7.0.0+build.1", "main/nginx/2.0.0"}; !slices.Equal(src.asked, want) {
		t.Fatalf("asked %q, want %q", src.asked, want)
	}

	// The API server negotiates the type of an error before the handler runs: a client
	// must accept JSON (or */*) too, as a Status comes as JSON.
	if resp, _ := get("main.nginx.2.0.0", appview.ChartContentType); resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("Accept %s alone: %s", appview.ChartContentType, resp.Status)
	}

	resp, body := get("main.nginx.9.9.9", "")
	if st := status(body); resp.StatusCode != http.StatusNotFound || st.Reason != metav1.StatusReasonNotFound ||
		st.Details == nil || st.Details.Name != "main.nginx.9.9.9" || st.Details.Kind != "applicationversions" {
		t.Fatalf("unknown version: %s %+v", resp.Status, st)
	}
	if len(src.asked) != 3 {
		t.Fatalf("an unknown version was asked of the source: %q", src.asked)
	}
	// In the view but gone from the source's catalog since: NotFound of the version.
	resp, body = get("other.nginx.3.0.0", "")
	if st := status(body); resp.StatusCode != http.StatusNotFound || st.Details == nil || st.Details.Name != "other.nginx.3.0.0" {
		t.Fatalf("vanished version: %s %+v", resp.Status, st)
	}
	resp, body = get("main.nginx.1.0.0", "")
	if st := status(body); resp.StatusCode != http.StatusBadGateway || st.Reason != appstore.ChartReasonDigestMismatch ||
		st.Message != "the archive's digest is sha256:aa, the index lists sha256:bb" || st.Details == nil || st.Details.Name != "main.nginx.1.0.0" {
		t.Fatalf("refused archive: %s %+v", resp.Status, st)
	}

	client := clientset.NewForConfigOrDie(&restclient.Config{Host: s.url})
	rl, err := client.Discovery().ServerResourcesForGroupVersion(v1alpha1.SchemeGroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rl.APIResources, func(r metav1.APIResource) bool { return r.Name == "applicationversions/chart" })
	if i < 0 || !slices.Equal(rl.APIResources[i].Verbs, []string{"get", "update"}) || rl.APIResources[i].Namespaced {
		t.Fatalf("discovery: %+v", rl.APIResources)
	}
}
