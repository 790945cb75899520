package apprelease

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore"
	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/registry/appview"
)

// rules allows exactly the listed "verb resource/subresource name" requests.
type rules struct {
	allow map[string]bool
	asked []string
}

func (r *rules) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	res := a.GetResource()
	if a.GetSubresource() != "" {
		res += "/" + a.GetSubresource()
	}
	k := a.GetVerb() + " " + res + " " + a.GetName()
	r.asked = append(r.asked, k)
	if r.allow[k] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

type versions map[string]string // "application version" -> ApplicationVersion name; "!name": not Active

func (v versions) FindVersion(application, version string) (appview.Found, bool) {
	name, ok := v[application+" "+version]
	if n, draft := strings.CutPrefix(name, "!"); draft {
		return appview.Found{Name: n, State: appstore.AppStateSubmitted}, ok
	}
	return appview.Found{Name: name, State: appstore.AppStateActive}, ok
}

func clusterLister(t *testing.T, cs ...*clustersv1alpha1.Cluster) clusterlisters.ClusterLister {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, c := range cs {
		if err := idx.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	return clusterlisters.NewClusterLister(idx)
}

func release(clusters ...string) *appstore.ApplicationRelease {
	return &appstore.ApplicationRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appstore.ApplicationReleaseSpec{Application: "charts.nginx", Version: "1.0.0", TargetNamespace: "web",
			Placement: appstore.Placement{Clusters: clusters}},
	}
}

func asUser(name string, groups ...string) context.Context {
	return request.WithUser(context.Background(), &user.DefaultInfo{Name: name, UID: "uid-" + name, Groups: groups,
		Extra: map[string][]string{"scopes": {"a"}}})
}

// The server, not the client, says who asked: whatever a client writes into status is
// replaced by the requesting user, on create and on every change of spec.
func TestRequesterIsTheServers(t *testing.T) {
	s := newStrategy(nil)
	r := release("member1")
	r.Status.Requester = appstore.Requester{Username: "system:admin", Groups: []string{"system:masters"}}
	r.Status.Clusters = []appstore.ClusterRelease{{Cluster: "member1", Phase: appstore.ReleasePhaseDeployed}}
	s.PrepareForCreate(asUser("dev", "team-a"), r)
	if got := r.Status.Requester; got.Username != "dev" || got.UID != "uid-dev" || len(got.Groups) != 1 || got.Groups[0] != "team-a" ||
		got.Extra["scopes"][0] != "a" {
		t.Fatalf("requester after create = %+v, want dev of team-a", got)
	}
	if len(r.Status.Clusters) != 0 || r.Generation != 1 || r.Spec.ReleaseName != "web" {
		t.Fatalf("after create: clusters %v, generation %d, releaseName %q", r.Status.Clusters, r.Generation, r.Spec.ReleaseName)
	}
	if len(r.Finalizers) != 1 || r.Finalizers[0] != appstore.UninstallFinalizer {
		t.Fatalf("finalizers %v, want the uninstall finalizer", r.Finalizers)
	}
	if len(r.Status.Requests) != 1 || r.Status.Requests[0].Action != appstore.RequestActionCreate || r.Status.Requests[0].User != "dev" {
		t.Fatalf("requests %+v, want one Create by dev", r.Status.Requests)
	}

	// A label change is no request: nothing is done as anyone new.
	old := r.DeepCopy()
	labelled := old.DeepCopy()
	labelled.Labels = map[string]string{"x": "y"}
	labelled.Status.Requester.Username = "system:admin"
	s.PrepareForUpdate(asUser("ops"), labelled, old)
	if labelled.Status.Requester.Username != "dev" || labelled.Generation != 1 || len(labelled.Status.Requests) != 1 {
		t.Fatalf("a label change by ops: requester %q, generation %d", labelled.Status.Requester.Username, labelled.Generation)
	}

	// A new version by another user makes them the requester.
	upgraded := old.DeepCopy()
	upgraded.Spec.Version = "1.1.0"
	upgraded.Spec.ReleaseName = ""
	s.PrepareForUpdate(asUser("ops"), upgraded, old)
	if upgraded.Status.Requester.Username != "ops" || upgraded.Generation != 2 || upgraded.Spec.ReleaseName != "web" {
		t.Fatalf("after an upgrade by ops: requester %q, generation %d, releaseName %q",
			upgraded.Status.Requester.Username, upgraded.Generation, upgraded.Spec.ReleaseName)
	}
	if last := upgraded.Status.Requests[len(upgraded.Status.Requests)-1]; last.Action != appstore.RequestActionUpdate || last.Generation != 2 || last.Version != "1.1.0" {
		t.Fatalf("last request %+v, want Update of generation 2 to 1.1.0", last)
	}

	// An administrator's delete is recorded, but the uninstall acts as the last requester:
	// no one may impersonate system:masters.
	deleted := upgraded.DeepCopy()
	record(asUser("kubernetes-admin", "system:masters"), deleted, appstore.RequestActionDelete)
	if deleted.Status.Requester.Username != "ops" || deleted.Status.Requests[len(deleted.Status.Requests)-1].User != "kubernetes-admin" {
		t.Fatalf("after an admin's delete: requester %q, requests %+v", deleted.Status.Requester.Username, deleted.Status.Requests)
	}

	// The status subresource cannot change who asked, nor the spec.
	st := statusStrategy{s}
	w := upgraded.DeepCopy()
	w.Status.Requester = appstore.Requester{Username: "system:admin"}
	w.Status.Requests = nil
	w.Spec.Version = "9.9.9"
	w.Status.Clusters = []appstore.ClusterRelease{{Cluster: "member1", Phase: appstore.ReleasePhaseDeployed}}
	st.PrepareForUpdate(asUser("controller"), w, upgraded)
	if w.Status.Requester.Username != "ops" || len(w.Status.Requests) != 2 || w.Spec.Version != "1.1.0" || len(w.Status.Clusters) != 1 {
		t.Fatalf("after a status write: requester %q, %d requests, version %q, clusters %v",
			w.Status.Requester.Username, len(w.Status.Requests), w.Spec.Version, w.Status.Clusters)
	}
}

func TestRollbackAndHistory(t *testing.T) {
	s := newStrategy(nil)
	r := release("member1")
	s.PrepareForCreate(asUser("dev"), r)
	back := r.DeepCopy()
	back.Spec.Rollback = &appstore.ReleaseRollback{ToGeneration: 1}
	s.PrepareForUpdate(asUser("dev"), back, r)
	if last := back.Status.Requests[len(back.Status.Requests)-1]; last.Action != appstore.RequestActionRollback {
		t.Fatalf("asking for a rollback recorded %s", last.Action)
	}
	// A new version asks for something new: the rollback no longer applies.
	next := back.DeepCopy()
	next.Spec.Version = "2.0.0"
	s.PrepareForUpdate(asUser("dev"), next, back)
	if next.Spec.Rollback != nil {
		t.Fatalf("rollback %+v kept across a version change", next.Spec.Rollback)
	}
	// The history keeps the newest maxRequests.
	cur := next
	for i := 0; i < maxRequests+5; i++ {
		n := cur.DeepCopy()
		n.Spec.TargetNamespace = strings.Repeat("a", i%3+1)
		s.PrepareForUpdate(asUser("dev"), n, cur)
		cur = n
	}
	if len(cur.Status.Requests) != maxRequests || cur.Status.Requests[maxRequests-1].Generation != cur.Generation {
		t.Fatalf("%d requests, last of generation %d (release at %d), want %d ending with the newest",
			len(cur.Status.Requests), cur.Status.Requests[len(cur.Status.Requests)-1].Generation, cur.Generation, maxRequests)
	}
}

// A write that would have the App Store act on a cluster needs the requester's own right to
// read the version and to use each cluster; each refusal says which right is missing.
func TestGuard(t *testing.T) {
	vs := versions{"charts.nginx 1.0.0": "charts.nginx.1.0.0", "charts.nginx 2.0.0": "charts.nginx.2.0.0",
		"charts.nginx 3.0.0-rc.1": "!charts.nginx.3.0.0-rc.1"}
	lister := clusterLister(t,
		&clustersv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member1", Labels: map[string]string{"env": "prod"}}},
		&clustersv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member2", Labels: map[string]string{"env": "prod"}}},
		&clustersv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member3"}})
	authz := &rules{allow: map[string]bool{
		"get applicationversions charts.nginx.1.0.0":      true,
		"get applicationversions charts.nginx.2.0.0":      true,
		"get applicationversions charts.nginx.3.0.0-rc.1": true,
		"create clusters/proxy member1":                   true,
		"delete clusters/proxy member1":                   true,
	}}
	g := Guard{Authorizer: authz, Clusters: lister, Versions: vs}
	ctx := asUser("dev")

	if err := g.admit(ctx, release("member1"), nil); err != nil {
		t.Fatalf("create on a cluster dev may use: %v", err)
	}
	err := g.admit(ctx, release("member1", "member2"), nil)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cluster "member2"`) {
		t.Fatalf("create placing member2: %v, want Forbidden naming member2", err)
	}
	missing := release("member1")
	missing.Spec.Version = "3.0.0"
	if err := g.admit(ctx, missing, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.version") {
		t.Fatalf("a version the catalog lacks: %v, want Invalid on spec.version", err)
	}
	// An uploaded version still in review is not installed.
	review := release("member1")
	review.Spec.Version = "3.0.0-rc.1"
	if err := g.admit(ctx, review, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "VersionNotActive") ||
		!strings.Contains(err.Error(), "is Submitted") {
		t.Fatalf("a version in review: %v, want Invalid with VersionNotActive", err)
	}
	hidden := Guard{Authorizer: &rules{allow: map[string]bool{"create clusters/proxy member1": true}}, Clusters: lister, Versions: vs}
	if err := hidden.admit(ctx, release("member1"), nil); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "applicationversions") {
		t.Fatalf("a version dev may not read: %v, want Forbidden naming applicationversions", err)
	}
	selected := release()
	selected.Spec.Placement = appstore.Placement{ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}
	if err := g.admit(ctx, selected, nil); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"member2"`) {
		t.Fatalf("a selector matching member2: %v, want Forbidden naming member2", err)
	}
	if err := g.admit(asUser("system:node:n1", user.NodesGroup), release("member1"), nil); !apierrors.IsForbidden(err) {
		t.Fatalf("a node: %v, want Forbidden", err)
	}
	// Constrained impersonation never impersonates system:masters: such a user is told how
	// to ask instead, for a create and for a delete.
	masters := asUser("kubernetes-admin", user.SystemPrivilegedGroup)
	if err := g.admit(masters, release("member1"), nil); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "kubectl --as=") {
		t.Fatalf("system:masters: %v, want Forbidden with what to do", err)
	}
	if err := g.admitDelete(masters, release("member1")); err != nil {
		t.Fatalf("system:masters deleting: %v, want it allowed (the uninstall acts as the last requester)", err)
	}

	// An update that leaves the generation is not checked; one that changes it is, for
	// every cluster again.
	old := release("member1", "member2")
	old.Generation = 3
	meta := old.DeepCopy()
	meta.Labels = map[string]string{"a": "b"}
	authz.asked = nil
	if err := g.admit(ctx, meta, old); err != nil || len(authz.asked) != 0 {
		t.Fatalf("a metadata update: %v, asked %v", err, authz.asked)
	}
	newer := old.DeepCopy()
	newer.Generation = 4
	newer.Spec.Version = "2.0.0"
	if err := g.admit(ctx, newer, old); !apierrors.IsForbidden(err) {
		t.Fatalf("an upgrade that still places member2: %v, want Forbidden", err)
	}

	// Taking a cluster out of the placement uninstalls there as who asks: it needs delete on
	// that cluster, unless the policy keeps the release there.
	both := release("member1", "member3")
	both.Generation = 5
	narrowed := release("member1")
	narrowed.Generation = 6
	authz.allow["create clusters/proxy member3"] = true
	if err := g.admit(ctx, narrowed, both); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `may not delete clusters/proxy "member3"`) {
		t.Fatalf("removing member3 without delete there: %v, want Forbidden naming member3", err)
	}
	narrowed.Spec.RemovalPolicy = appstore.RemovalPolicyKeep
	if err := g.admit(ctx, narrowed, both); err != nil {
		t.Fatalf("removing member3 with removalPolicy Keep: %v", err)
	}
	narrowed.Spec.RemovalPolicy = appstore.RemovalPolicyUninstall
	authz.allow["delete clusters/proxy member3"] = true
	if err := g.admit(ctx, narrowed, both); err != nil {
		t.Fatalf("removing member3 with delete there: %v", err)
	}

	// Deleting needs delete on every cluster the release is on, not on those it was kept on.
	del := release("member1")
	del.Status.Clusters = []appstore.ClusterRelease{
		{Cluster: "member1", Phase: appstore.ReleasePhaseDeployed},
		{Cluster: "member3", Phase: appstore.ReleasePhaseKept},
	}
	if err := g.admitDelete(ctx, del); err != nil {
		t.Fatalf("delete from member1 only: %v", err)
	}
	del.Status.Clusters = append(del.Status.Clusters, appstore.ClusterRelease{Cluster: "member2", Phase: appstore.ReleasePhaseFailed})
	if err := g.admitDelete(ctx, del); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `"member2"`) {
		t.Fatalf("delete of a release still on member2: %v, want Forbidden naming member2", err)
	}
	if err := (Guard{}).admit(ctx, release("member1"), nil); !apierrors.IsForbidden(err) {
		t.Fatalf("no catalog or authorizer: %v, want Forbidden", err)
	}
}
