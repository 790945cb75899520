package appview

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"kubesphere.io/multicluster/apis/appstore"
)

// ev is an event as the tests compare it: type, name, resourceVersion, and for a
// bookmark whether it ends the initial events.
type ev struct {
	typ        watch.EventType
	name, rv   string
	initialEnd bool
}

func (e ev) String() string { return fmt.Sprintf("%s %s@%s end=%v", e.typ, e.name, e.rv, e.initialEnd) }

func toEv(t *testing.T, e watch.Event) ev {
	t.Helper()
	if e.Type == watch.Error {
		return ev{typ: e.Type, name: e.Object.(*metav1.Status).Message}
	}
	m, err := meta.Accessor(e.Object)
	if err != nil {
		t.Fatal(err)
	}
	return ev{typ: e.Type, name: m.GetName(), rv: m.GetResourceVersion(),
		initialEnd: m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true"}
}

// next reads n events, failing after a second without one.
func next(t *testing.T, w watch.Interface, n int) []ev {
	t.Helper()
	out := []ev{}
	for len(out) < n {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %v", out)
			}
			out = append(out, toEv(t, e))
		case <-time.After(time.Second):
			t.Fatalf("no event after %v", out)
		}
	}
	return out
}

// quiet fails if an event comes within d.
func quiet(t *testing.T, w watch.Interface, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if ok {
			t.Fatalf("unexpected event %v", toEv(t, e))
		}
		t.Fatal("watch closed")
	case <-time.After(d):
	}
}

func closes(t *testing.T, w watch.Interface) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch did not end")
		}
	}
}

func added(rv string, names ...string) []ev {
	out := []ev{}
	for _, n := range names {
		out = append(out, ev{typ: watch.Added, name: n, rv: rv})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestWatchStart(t *testing.T) {
	endBookmark := ev{typ: watch.Bookmark, rv: "1002", initialEnd: true}
	for _, c := range []struct {
		name string
		o    metainternalversion.ListOptions
		want []ev
	}{
		{"watch list", metainternalversion.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
			append(added("1002", wantApps...), endBookmark)},
		{"watch list not older than an rv", metainternalversion.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true,
			ResourceVersion: "1001", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
			append(added("1002", wantApps...), endBookmark)},
		{"initial events without bookmarks", metainternalversion.ListOptions{SendInitialEvents: ptr(true)}, added("1002", wantApps...)},
		{"legacy rv unset", metainternalversion.ListOptions{}, added("1002", wantApps...)},
		{"legacy rv 0", metainternalversion.ListOptions{ResourceVersion: "0"}, added("1002", wantApps...)},
		{"selected", *opts(appstore.RepoLabel+"=other", ""), added("1002", "other.nginx")},
		{"from now", metainternalversion.ListOptions{SendInitialEvents: ptr(false), ResourceVersion: "0"}, nil},
		{"from the current rv", metainternalversion.ListOptions{ResourceVersion: "1002"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cat, apps, _ := fixture(t)
			o := c.o
			w, err := apps.Watch(ctx, &o)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if got := next(t, w, len(c.want)); len(c.want) > 0 && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v\nwant %v", got, c.want)
			}
			quiet(t, w, 50*time.Millisecond)
			// Then the changes.
			cat.Delete("other")
			if got, want := next(t, w, 1)[0], (ev{typ: watch.Deleted, name: "other.nginx", rv: "1003"}); got != want {
				t.Fatalf("after the initial events: %v, want %v", got, want)
			}
		})
	}
}

func TestWatchExpired(t *testing.T) {
	_, apps, _ := fixture(t)
	for _, o := range []metainternalversion.ListOptions{
		{ResourceVersion: "1001"}, // older: no history is kept
		{ResourceVersion: "1003"}, // never handed out
		{ResourceVersion: "7000000001"},
		{ResourceVersion: "7000000001", SendInitialEvents: ptr(true), AllowWatchBookmarks: true},
		{ResourceVersion: "999", SendInitialEvents: ptr(true), AllowWatchBookmarks: true},
	} {
		w, err := apps.Watch(ctx, &o)
		if err != nil {
			t.Fatalf("%+v: %v (want a watch with an ERROR event)", o, err)
		}
		e, ok := <-w.ResultChan()
		if !ok || e.Type != watch.Error {
			t.Fatalf("%+v: %v", o, e)
		}
		if s := e.Object.(*metav1.Status); s.Code != 410 || s.Reason != metav1.StatusReasonExpired {
			t.Fatalf("%+v: status %+v", o, s)
		}
		if _, ok := <-w.ResultChan(); ok {
			t.Fatal("an expired watch goes on")
		}
		w.Stop()
	}
	if _, err := apps.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: "x"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("rv x: %v", err)
	}
}

// changedIndex is mainIndex with nginx 2.0.0's appVersion changed, nginx 1.0.0 gone and a
// chart zed added.
const changedIndex = `apiVersion: v1
entries:
  nginx:
  - name: nginx
    version: 2.0.0
    appVersion: "1.27.1"
    description: NGINX Open Source is a web server that can be also used as a reverse proxy, load balancer and cache.
    home: https://nginx.org
    keywords: [web, proxy]
    maintainers:
    - name: Ann
      email: ann@example.com
    created: "2024-03-01T10:00:00Z"
    digest: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
    urls:
    - nginx-2.0.0.tgz
  Redis:
  - name: Redis
    version: 1.0.0
    created: "2023-06-01T00:00:00Z"
  redis:
  - name: redis
    version: 7.0.0+build.1
    created: "2023-05-01T00:00:00Z"
  - name: redis
    version: 7.0.0-RC1
  MyApp:
  - name: MyApp
    version: 0.1.0
  zed:
  - name: zed
    version: 1.0.0
`

func TestWatchChanges(t *testing.T) {
	cat, apps, vers := fixture(t)
	watchFrom := func(s *REST, label string) watch.Interface {
		o := opts(label, "")
		o.ResourceVersion = "1002"
		w, err := s.Watch(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	allVersions := watchFrom(vers, "")
	nginxApps := watchFrom(apps, appstore.AppLabel+"=nginx")
	otherOnly := watchFrom(vers, appstore.RepoLabel+"=other")

	changed := repo(t, "main", mainUID, changedIndex)
	cat.Put(changed) // 1003
	if got, want := next(t, allVersions, 3), []ev{
		{typ: watch.Deleted, name: "main.nginx.1.0.0", rv: "1003"},
		{typ: watch.Modified, name: "main.nginx.2.0.0", rv: "1003"},
		{typ: watch.Added, name: "main.zed.1.0.0", rv: "1003"},
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("versions: %v, want %v", got, want)
	}
	if got, want := next(t, nginxApps, 1)[0], (ev{typ: watch.Modified, name: "main.nginx", rv: "1003"}); got != want {
		t.Fatalf("applications: %v, want %v", got, want)
	}
	// The same snapshot again (a sync that found nothing new): no events.
	again := *changed
	cat.Put(&again) // 1004
	quiet(t, allVersions, 50*time.Millisecond)
	// A deleted DELETED object is the last state at the deletion's rv.
	cat.Delete("other") // 1005
	for _, w := range []watch.Interface{allVersions, otherOnly} {
		e := <-w.ResultChan()
		v, ok := e.Object.(*appstore.ApplicationVersion)
		if e.Type != watch.Deleted || !ok || v.Name != "other.nginx.3.0.0" || v.ResourceVersion != "1005" || v.Spec.Version != "3.0.0" {
			t.Fatalf("delete: %v %+v", e.Type, e.Object)
		}
	}
	if got, want := next(t, nginxApps, 1)[0], (ev{typ: watch.Deleted, name: "other.nginx", rv: "1005"}); got != want {
		t.Fatalf("applications: %v, want %v", got, want)
	}
	// A re-created Repo (new UID) makes new objects of the same names.
	cat.Put(repo(t, "main", "0d7c0b8e-8f0c-4d8c-a1c6-2f7d2c9e4a12", changedIndex)) // 1006
	if got := next(t, allVersions, 6); got[0].typ != watch.Modified || got[5].typ != watch.Modified {
		t.Fatalf("re-created repo: %v", got)
	}
	quiet(t, otherOnly, 50*time.Millisecond)
	quiet(t, allVersions, 20*time.Millisecond)
}

func TestWatchBookmarks(t *testing.T) {
	cat, apps, _ := fixture(t)
	apps.bookmarkEvery = 20 * time.Millisecond
	w, err := apps.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: "1002", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := next(t, w, 1)[0]; got != (ev{typ: watch.Bookmark, rv: "1002"}) {
		t.Fatalf("bookmark %v", got)
	}
	cat.Delete("other")
	if got := next(t, w, 1)[0]; got.typ != watch.Deleted {
		t.Fatalf("%v", got)
	}
	if got := next(t, w, 1)[0]; got != (ev{typ: watch.Bookmark, rv: "1003"}) {
		t.Fatalf("bookmark %v", got)
	}
	// Without allowWatchBookmarks: none.
	w2, _ := apps.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: "1003"})
	defer w2.Stop()
	quiet(t, w2, 60*time.Millisecond)
}

func TestNextBookmark(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		deadline time.Time
		want     time.Duration
		ok       bool
	}{
		{time.Time{}, time.Minute, true},
		{now.Add(5 * time.Minute), time.Minute, true},
		{now.Add(30 * time.Second), 28 * time.Second, true},
		{now.Add(time.Second), 0, false},
	} {
		if d, ok := nextBookmark(now, c.deadline, time.Minute); d != c.want || ok != c.ok {
			t.Errorf("deadline %v: %v %v, want %v %v", c.deadline.Sub(now), d, ok, c.want, c.ok)
		}
	}
}

func TestWatchEnds(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		_, apps, _ := fixture(t)
		w, _ := apps.Watch(ctx, &metainternalversion.ListOptions{})
		w.Stop()
		closes(t, w)
	})
	t.Run("context", func(t *testing.T) {
		_, apps, _ := fixture(t)
		cctx, cancel := context.WithCancel(ctx)
		w, _ := apps.Watch(cctx, &metainternalversion.ListOptions{ResourceVersion: "1002"})
		defer w.Stop()
		cancel()
		closes(t, w)
	})
	t.Run("the catalog drops a watcher that falls behind", func(t *testing.T) {
		cat, _, vers := fixture(t)
		w, _ := vers.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: "1002"})
		defer w.Stop()
		a, b := repo(t, "other", otherUID, mainIndex), repo(t, "other", otherUID, otherIndex)
		for i := 0; i < 2*watchBuffer; i++ { // nobody reads: every change has events
			if i%2 == 0 {
				cat.Put(a)
			} else {
				cat.Put(b)
			}
		}
		closes(t, w)
	})
}
