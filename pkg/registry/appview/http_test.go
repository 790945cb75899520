package appview_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	basecompatibility "k8s.io/component-base/compatibility"
	baseversion "k8s.io/component-base/version"

	"kubesphere.io/multicluster/apis/appstore"
	appstoreinstall "kubesphere.io/multicluster/apis/appstore/install"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/generated/informers/externalversions"
	clusteropenapi "kubesphere.io/multicluster/generated/openapi"
	"kubesphere.io/multicluster/pkg/registry/appview"
)

// server serves the two views over the fixture's catalog through a real generic API
// server (installer, field label conversion, watch serving; no authn/authz, no etcd),
// recording the query of every request. extra are more storages, such as subresources.
type server struct {
	url     string
	mu      sync.Mutex
	queries []string
}

func (s *server) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

func newServer(t *testing.T, apps, vers *appview.REST, extra map[string]rest.Storage) *server {
	t.Helper()
	scheme := runtime.NewScheme()
	appstoreinstall.Install(scheme)
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	codecs := serializer.NewCodecFactory(scheme)
	rc := genericapiserver.NewRecommendedConfig(codecs)
	rc.ExternalAddress = "127.0.0.1:6443"
	rc.EffectiveVersion = basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", "")
	rc.LoopbackClientConfig = &restclient.Config{Host: "127.0.0.1:0"}
	// The generic server builds its type converter from the OpenAPI models.
	rc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(clusteropenapi.GetOpenAPIDefinitions, openapi.NewDefinitionNamer(scheme))
	generic, err := rc.Complete().New("appview-test", genericapiserver.NewEmptyDelegate())
	if err != nil {
		t.Fatal(err)
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(appstore.GroupName, scheme, runtime.NewParameterCodec(scheme), codecs)
	group.VersionedResourcesStorageMap[v1alpha1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"applications": apps, "applicationversions": vers,
	}
	maps.Copy(group.VersionedResourcesStorageMap[v1alpha1.SchemeGroupVersion.Version], extra)
	if err := generic.InstallAPIGroup(&group); err != nil {
		t.Fatal(err)
	}
	s := &server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/applications") {
			s.mu.Lock()
			s.queries = append(s.queries, r.URL.RawQuery)
			s.mu.Unlock()
		}
		generic.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func TestHTTP(t *testing.T) {
	cat, apps, vers := appview.Fixture(t)
	s := newServer(t, apps, vers, nil)
	client := clientset.NewForConfigOrDie(&restclient.Config{Host: s.url})
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		rl, err := client.Discovery().ServerResourcesForGroupVersion(v1alpha1.SchemeGroupVersion.String())
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, r := range rl.APIResources {
			if r.Name == "applications" || r.Name == "applicationversions" {
				found++
				if r.Namespaced || r.SingularName != strings.TrimSuffix(r.Name, "s") || !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
					t.Fatalf("%+v", r)
				}
			}
		}
		if found != 2 {
			t.Fatalf("resources %+v", rl.APIResources)
		}
	})
	t.Run("get and field selectors", func(t *testing.T) {
		a, err := client.AppstoreV1alpha1().Applications().Get(ctx, "main.nginx", metav1.GetOptions{})
		if err != nil || a.Status.LatestVersion != "2.0.0" || a.Kind != "" && a.Kind != "Application" {
			t.Fatalf("%+v %v", a, err)
		}
		if _, err := client.AppstoreV1alpha1().Applications().Get(ctx, "main.nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("missing: %v", err)
		}
		l, err := client.AppstoreV1alpha1().ApplicationVersions().List(ctx, metav1.ListOptions{FieldSelector: "spec.application=main.nginx,spec.version=2.0.0"})
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != "main.nginx.2.0.0" || l.ResourceVersion != "1002" {
			t.Fatalf("%+v %v", l, err)
		}
		if _, err := client.AppstoreV1alpha1().Applications().List(ctx, metav1.ListOptions{FieldSelector: "spec.version=1"}); !apierrors.IsBadRequest(err) {
			t.Fatalf("unsupported field: %v", err)
		}
	})
	t.Run("table", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.url+"/apis/appstore.kubesphere.io/v1alpha1/applicationversions?labelSelector="+appstore.AppLabel+"%3Dnginx", nil)
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var table metav1.Table
		if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
			t.Fatal(err)
		}
		if len(table.ColumnDefinitions) != 6 || table.ColumnDefinitions[3].Name != "App Version" || len(table.Rows) != 3 || table.Rows[0].Cells[1] != "main.nginx" {
			t.Fatalf("%+v", table)
		}
	})
	t.Run("expired watch", func(t *testing.T) {
		w, err := client.AppstoreV1alpha1().Applications().Watch(ctx, metav1.ListOptions{ResourceVersion: "1001"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		e := <-w.ResultChan()
		if st, ok := e.Object.(*metav1.Status); e.Type != watch.Error || !ok || st.Code != http.StatusGone {
			t.Fatalf("%v %+v", e.Type, e.Object)
		}
	})
	t.Run("informer over WatchList", func(t *testing.T) {
		s.mu.Lock()
		s.queries = nil
		s.mu.Unlock()
		factory := externalversions.NewSharedInformerFactory(client, 0)
		informer := factory.Appstore().V1alpha1().Applications()
		lister := informer.Lister()
		informer.Informer()
		stop := make(chan struct{})
		defer close(stop)
		factory.Start(stop)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if !cache.WaitForCacheSync(sctx.Done(), informer.Informer().HasSynced) {
			t.Fatal("the informer did not sync")
		}
		if got, _ := lister.List(labels.Everything()); len(got) != len(appview.WantApps) {
			t.Fatalf("%d applications", len(got))
		}
		// Synced from one watch with sendInitialEvents, ended by the bookmark; no list.
		if q := s.seen(); len(q) != 1 || !strings.Contains(q[0], "sendInitialEvents=true") || !strings.Contains(q[0], "watch=true") {
			t.Fatalf("requests %q, want one WatchList request", q)
		}
		cat.Put(appview.ChangedRepo(t)) // adds main.zed
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := lister.Get("main.zed"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the informer did not see the change")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
