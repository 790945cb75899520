package reposync

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned/fake"
	"kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
)

const smallIndex = `apiVersion: v1
entries:
  hello:
  - name: hello
    version: 0.2.0
    appVersion: "1.1"
    urls: [hello-0.2.0.tgz]
  - name: hello
    version: 0.1.0
    urls: [hello-0.1.0.tgz]
  other:
  - name: other
    version: 1.0.0
`

// newSyncer is a Syncer over a fake API with repos, whose Secrets are secrets.
func newSyncer(t *testing.T, repos []*v1alpha1.Repo, secrets ...*corev1.Secret) (*Syncer, *fake.Clientset, *catalog.Catalog) {
	t.Helper()
	client := fake.NewSimpleClientset()
	factory := externalversions.NewSharedInformerFactory(client, 0)
	informer := factory.Appstore().V1alpha1().Repos()
	for _, r := range repos {
		if _, err := client.AppstoreV1alpha1().Repos().Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := informer.Informer().GetIndexer().Add(r); err != nil {
			t.Fatal(err)
		}
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range secrets {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	c := catalog.New(0)
	s, err := New(client, informer, corelisters.NewSecretLister(idx), "kubesphere-system", c)
	if err != nil {
		t.Fatal(err)
	}
	return s, client, c
}

func synced(t *testing.T, client *fake.Clientset, name string) (*v1alpha1.Repo, *metav1.Condition) {
	t.Helper()
	r, err := client.AppstoreV1alpha1().Repos().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r, meta.FindStatusCondition(r.Status.Conditions, appstore.RepoSynced)
}

func TestSyncIndexRepo(t *testing.T) {
	var reads, full atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write([]byte(smallIndex))
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	repo := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "local", Generation: 1, UID: "u1"},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL + "/", CABundle: ca}}
	s, client, c := newSyncer(t, []*v1alpha1.Repo{repo})
	ctx := context.Background()

	after, err := s.sync(ctx, "local")
	if err != nil || after <= 0 {
		t.Fatalf("sync: next in %v, %v", after, err)
	}
	got, cond := synced(t, client, "local")
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != appstore.RepoReasonSynced {
		t.Fatalf("condition %+v", cond)
	}
	if got.Status.ChartCount != 2 || got.Status.VersionCount != 3 || got.Status.IndexSize != int64(len(smallIndex)) ||
		got.Status.LastSyncTime == nil || got.Status.IndexDigest == "" || got.Status.ObservedGeneration != 1 {
		t.Fatalf("status %+v", got.Status)
	}
	if r, ok := c.Get("local"); !ok || len(r.Index.Charts) != 2 || r.UID != "u1" {
		t.Fatalf("catalog has %+v", r)
	}
	// Again: a conditional read, nothing parsed, the counts kept.
	if _, err := s.sync(ctx, "local"); err != nil {
		t.Fatal(err)
	}
	if reads.Load() != 2 || full.Load() != 1 {
		t.Fatalf("%d reads, %d full: want the second one conditional", reads.Load(), full.Load())
	}
	if got, _ := synced(t, client, "local"); got.Status.ChartCount != 2 {
		t.Fatalf("after a 304: %+v", got.Status)
	}
}

func TestSyncFailuresAreConditions(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	repos := []*v1alpha1.Repo{
		{ObjectMeta: metav1.ObjectMeta{Name: "no-ca"}, Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL}},
		{ObjectMeta: metav1.ObjectMeta{Name: "no-secret"}, Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: srv.URL,
			CredentialsSecretRef: &v1alpha1.LocalSecretReference{Name: "gone"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "oci"}, Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceOCI, URL: "oci://127.0.0.1:1/charts", Charts: []string{"hello"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "uploads"}, Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceUpload}},
	}
	s, client, c := newSyncer(t, repos)
	want := map[string]struct {
		status metav1.ConditionStatus
		reason string
	}{
		"no-ca":     {metav1.ConditionFalse, appstore.RepoReasonTLSError},
		"no-secret": {metav1.ConditionFalse, appstore.RepoReasonUnauthorized},
		"oci":       {metav1.ConditionFalse, appstore.RepoReasonUnreachable},
		"uploads":   {metav1.ConditionTrue, appstore.RepoReasonSynced},
	}
	for name, w := range want {
		if _, err := s.sync(context.Background(), name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, cond := synced(t, client, name); cond == nil || cond.Status != w.status || cond.Reason != w.reason {
			t.Errorf("%s: condition %+v, want %s %s", name, cond, w.status, w.reason)
		}
	}
	if repos, _ := c.List(); len(repos) != 0 {
		t.Fatalf("failed syncs put %d repos in the catalog", len(repos))
	}
	// A deleted Repo leaves the catalog.
	c.Put(&catalog.Repo{Name: "deleted"})
	if _, err := s.sync(context.Background(), "deleted"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("deleted"); ok {
		t.Fatal("a deleted Repo's charts stayed")
	}
}
