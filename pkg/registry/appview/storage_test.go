package appview

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

var ctx = context.Background()

func TestGetApplication(t *testing.T) {
	_, apps, _ := fixture(t)
	obj, err := apps.Get(ctx, "main.nginx", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := obj.(*appstore.Application)
	want := &appstore.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name: "main.nginx", ResourceVersion: "1002",
			UID:               typesUID(uuid.NewSHA1(uuid.MustParse(string(mainUID)), []byte("nginx"))),
			CreationTimestamp: metav1.NewTime(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)),
			Labels:            map[string]string{appstore.RepoLabel: "main", appstore.AppLabel: "nginx"},
		},
		Spec: appstore.ApplicationSpec{Repo: "main", Chart: "nginx",
			Description: "NGINX Open Source is a web server that can be also used as a reverse proxy, load balancer and cache.",
			Home:        "https://nginx.org", Keywords: []string{"web", "proxy"},
			Maintainers: []appstore.Maintainer{{Name: "Ann", Email: "ann@example.com"}}},
		Status: appstore.ApplicationStatus{LatestVersion: "2.0.0", LatestAppVersion: "1.27.0", VersionCount: 2,
			Updated: timePtr(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC).UnixNano()), State: appstore.AppStateActive},
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("got\n%#v\nwant\n%#v", a, want)
	}
	if a.TypeMeta != (metav1.TypeMeta{}) {
		t.Fatal("internal objects carry no TypeMeta")
	}
}

func typesUID(u uuid.UUID) types.UID { return types.UID(u.String()) }

func TestGetVersion(t *testing.T) {
	_, _, vers := fixture(t)
	obj, err := vers.Get(ctx, "main.nginx.2.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := obj.(*appstore.ApplicationVersion)
	created := metav1.NewTime(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	want := &appstore.ApplicationVersion{
		ObjectMeta: metav1.ObjectMeta{
			Name: "main.nginx.2.0.0", ResourceVersion: "1002", CreationTimestamp: created,
			UID:    typesUID(uuid.NewSHA1(uuid.MustParse(string(mainUID)), []byte("nginx/2.0.0"))),
			Labels: map[string]string{appstore.RepoLabel: "main", appstore.AppLabel: "nginx"},
		},
		Spec: appstore.ApplicationVersionSpec{Repo: "main", Chart: "nginx", Application: "main.nginx",
			Version: "2.0.0", AppVersion: "1.27.0",
			Description: "NGINX Open Source is a web server that can be also used as a reverse proxy, load balancer and cache.",
			Created:     &created, Digest: "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
			ChartURLs: []string{"nginx-2.0.0.tgz"}},
		Status: appstore.ApplicationVersionStatus{State: appstore.AppStateActive},
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got\n%#v\nwant\n%#v", v, want)
	}
}

// An OCI Repo's version shows its registry reference, not chart URLs.
func TestGetOCIVersion(t *testing.T) {
	c, _, vers := fixture(t)
	snap := index.Assemble([]index.Chart{{Name: "hello", Versions: []index.Version{
		{Version: "0.1.0", URLs: []string{"oci://registry.example.com/charts/hello:0.1.0"}}}}}, 0)
	c.Put(&catalog.Repo{Name: "oci", UID: otherUID, Source: appstore.RepoSourceOCI, Index: snap})
	obj, err := vers.Get(ctx, "oci.hello.0.1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := obj.(*appstore.ApplicationVersion); v.Spec.OCIReference != "registry.example.com/charts/hello:0.1.0" || v.Spec.ChartURLs != nil {
		t.Fatalf("spec %+v", v.Spec)
	}
}

func TestGetNames(t *testing.T) {
	_, apps, vers := fixture(t)
	for _, c := range []struct {
		store      *REST
		name       string
		chart, ver string
	}{
		{apps, "main.myapp", "MyApp", ""},
		{apps, "main.redis", "redis", ""},
		{apps, upperRedis, "Redis", ""},
		{vers, upperRedis + ".1.0.0", "Redis", "1.0.0"},
		{vers, "main.redis." + h("7.0.0+build.1"), "redis", "7.0.0+build.1"},
		{vers, "main.redis.7.0.0-rc1", "redis", "7.0.0-RC1"},
		{vers, "other.nginx.3.0.0", "nginx", "3.0.0"},
	} {
		obj, err := c.store.Get(ctx, c.name, nil)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		switch o := obj.(type) {
		case *appstore.Application:
			if o.Spec.Chart != c.chart || o.Labels[appstore.AppLabel] != c.chart {
				t.Errorf("%s: chart %q, labels %v", c.name, o.Spec.Chart, o.Labels)
			}
		case *appstore.ApplicationVersion:
			if o.Spec.Chart != c.chart || o.Spec.Version != c.ver || repoOf(o.Spec.Application) != "main" && repoOf(o.Spec.Application) != "other" {
				t.Errorf("%s: %+v", c.name, o.Spec)
			}
		}
	}
	// A version that is only lowercased keeps its hashed application's prefix.
	obj, _ := vers.Get(ctx, upperRedis+".1.0.0", nil)
	if app := obj.(*appstore.ApplicationVersion).Spec.Application; app != upperRedis {
		t.Errorf("application %q, want %q", app, upperRedis)
	}
	for _, c := range []struct {
		store *REST
		name  string
	}{
		{apps, "main.nope"}, {apps, "nope.nginx"}, {apps, "main"}, {apps, ""}, {apps, "main.Redis"},
		{vers, "main.nginx"}, {vers, "main.nginx.9.9.9"}, {vers, "main.redis.7.0.0-RC1"}, {apps, "main.nginx.2.0.0"},
	} {
		_, err := c.store.Get(ctx, c.name, nil)
		if !apierrors.IsNotFound(err) {
			t.Errorf("Get(%q) = %v, want NotFound", c.name, err)
			continue
		}
		if d := err.(*apierrors.StatusError).ErrStatus.Details; d == nil || d.Name != c.name || d.Kind != c.store.view.resource {
			t.Errorf("Get(%q): details %+v", c.name, d)
		}
	}
}

func names(t *testing.T, obj runtime.Object) []string {
	t.Helper()
	items, err := meta.ExtractList(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, it := range items {
		m, _ := meta.Accessor(it)
		out = append(out, m.GetName())
	}
	return out
}

func opts(label, field string) *metainternalversion.ListOptions {
	o := &metainternalversion.ListOptions{}
	if label != "" {
		o.LabelSelector = labels.SelectorFromSet(nil)
		sel, err := labels.Parse(label)
		if err != nil {
			panic(err)
		}
		o.LabelSelector = sel
	}
	if field != "" {
		o.FieldSelector = fields.ParseSelectorOrDie(field)
	}
	return o
}

func TestListSelectors(t *testing.T) {
	_, apps, vers := fixture(t)
	for _, c := range []struct {
		name         string
		store        *REST
		label, field string
		want         []string
	}{
		{"all applications", apps, "", "", wantApps},
		{"all versions", vers, "", "", wantVersions},
		{"label repo", apps, appstore.RepoLabel + "=other", "", []string{"other.nginx"}},
		{"label app", vers, appstore.AppLabel + "=nginx", "", []string{"main.nginx.1.0.0", "main.nginx.2.0.0", "other.nginx.3.0.0"}},
		{"label app of a hashed name", apps, appstore.AppLabel + "=Redis", "", []string{upperRedis}},
		{"label set-based", apps, appstore.AppLabel + " in (MyApp,redis)", "", []string{"main.myapp", "main.redis"}},
		{"field spec.repo", vers, "", "spec.repo=other", []string{"other.nginx.3.0.0"}},
		{"field spec.chart", apps, "", "spec.chart=Redis", []string{upperRedis}},
		{"field spec.application", vers, "", "spec.application=main.redis", sortedNames("main.redis."+h("7.0.0+build.1"), "main.redis.7.0.0-rc1")},
		{"field spec.version", vers, "", "spec.version=1.0.0", sortedNames("main.nginx.1.0.0", upperRedis+".1.0.0")},
		{"field status.state", apps, "", "status.state=Active", wantApps},
		{"field status.state no match", vers, "", "status.state=Draft", []string{}},
		{"field metadata.name", apps, "", "metadata.name=main.nginx", []string{"main.nginx"}},
		{"field metadata.name missing", apps, "", "metadata.name=main.nope", []string{}},
		{"field not equal", apps, "", "spec.chart!=nginx", sortedNames("main.myapp", "main.redis", upperRedis)},
		{"label and field", vers, appstore.AppLabel + "=nginx", "spec.repo=main", []string{"main.nginx.1.0.0", "main.nginx.2.0.0"}},
		{"label and field disagree on repo", vers, appstore.RepoLabel + "=other", "spec.repo=main", []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj, err := c.store.List(ctx, opts(c.label, c.field))
			if err != nil {
				t.Fatal(err)
			}
			if got := names(t, obj); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			if m, _ := meta.ListAccessor(obj); m.GetResourceVersion() != "1002" || m.GetContinue() != "" {
				t.Fatalf("list meta %+v", m)
			}
		})
	}
	for _, f := range []string{"spec.application=main.nginx", "metadata.namespace=x", "spec.description=x"} {
		if _, err := apps.List(ctx, opts("", f)); !apierrors.IsBadRequest(err) {
			t.Errorf("applications with %s: %v, want BadRequest", f, err)
		}
	}
	if _, err := vers.Watch(ctx, opts("", "spec.digest=x")); !apierrors.IsBadRequest(err) {
		t.Errorf("watch with an unknown field: %v, want BadRequest", err)
	}
	if obj, err := apps.List(ctx, nil); err != nil || len(names(t, obj)) != len(wantApps) {
		t.Errorf("List with nil options: %v", err)
	}
}
