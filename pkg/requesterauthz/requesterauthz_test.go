package requesterauthz

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned/fake"
	informers "kubesphere.io/multicluster/generated/informers/externalversions"
)

const controller = "system:serviceaccount:kube-federation-system:appstore-controller"

// hostRBAC gives the controller the verb act-as-requesters, and no one else.
type hostRBAC struct{}

func (hostRBAC) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser().GetName() == controller && a.GetVerb() == Verb && a.GetResource() == "applicationreleases" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (h hostRBAC) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(h.Authorize(ctx, a))
}

func (hostRBAC) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func newAuthorizer(t *testing.T, releases ...*v1alpha1.ApplicationRelease) *Authorizer {
	t.Helper()
	client := fake.NewSimpleClientset()
	for _, r := range releases {
		if _, err := client.AppstoreV1alpha1().ApplicationReleases().Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	a, err := New(hostRBAC{}, releaseSource(factory))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), a.synced) {
		t.Fatal("cache did not sync")
	}
	return a
}

// releaseSource is a source of ApplicationReleases' requesters (pkg/registry/apprelease has
// the server's; this package cannot import it).
func releaseSource(factory informers.SharedInformerFactory) Source {
	return Source{Resource: v1alpha1.Resource("applicationreleases"), Informer: factory.Appstore().V1alpha1().ApplicationReleases().Informer(),
		RequesterOf: func(obj any) (Requester, bool) {
			r, ok := obj.(*v1alpha1.ApplicationRelease)
			if !ok {
				return Requester{}, false
			}
			return Requester{Username: r.Status.Requester.Username, UID: r.Status.Requester.UID, Groups: r.Status.Requester.Groups,
				Extra: r.Status.Requester.Extra}, true
		}}
}

func released(name string, req v1alpha1.Requester) *v1alpha1.ApplicationRelease {
	return &v1alpha1.ApplicationRelease{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1alpha1.ApplicationReleaseStatus{Requester: req}}
}

func impersonate(by, mode, resource, sub, namespace, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: by}, Verb: "impersonate:" + mode,
		APIGroup: "authentication.k8s.io", APIVersion: "v1", Resource: resource, Subresource: sub,
		Namespace: namespace, Name: name, ResourceRequest: true}
}

func TestOnlyRecordedRequesters(t *testing.T) {
	a := newAuthorizer(t,
		released("web", v1alpha1.Requester{Username: "developer", UID: "u-1", Groups: []string{"developers", "system:authenticated"},
			Extra: map[string][]string{"scopes": {"apps"}}}),
		released("ci", v1alpha1.Requester{Username: "system:serviceaccount:ci:deployer"}))
	cases := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{"a requester", impersonate(controller, "user-info", "users", "", "", "developer"), authorizer.DecisionAllow},
		{"a requester's uid", impersonate(controller, "user-info", "uids", "", "", "u-1"), authorizer.DecisionAllow},
		{"a requester's group", impersonate(controller, "user-info", "groups", "", "", "developers"), authorizer.DecisionAllow},
		{"a requester's extra", impersonate(controller, "user-info", "userextras", "scopes", "", "apps"), authorizer.DecisionAllow},
		{"a requester service account", impersonate(controller, "serviceaccount", "serviceaccounts", "", "ci", "deployer"), authorizer.DecisionAllow},
		{"an admin who asked for nothing", impersonate(controller, "user-info", "users", "", "", "admin"), authorizer.DecisionNoOpinion},
		{"system:masters", impersonate(controller, "user-info", "groups", "", "", "system:masters"), authorizer.DecisionNoOpinion},
		{"another uid", impersonate(controller, "user-info", "uids", "", "", "u-2"), authorizer.DecisionNoOpinion},
		{"another extra value", impersonate(controller, "user-info", "userextras", "scopes", "", "all"), authorizer.DecisionNoOpinion},
		{"a service account of another namespace", impersonate(controller, "serviceaccount", "serviceaccounts", "", "kube-system", "deployer"), authorizer.DecisionNoOpinion},
		{"every group at once", impersonate(controller, "user-info", "groups", "", "", "*"), authorizer.DecisionNoOpinion},
		{"a node", impersonate(controller, "arbitrary-node", "nodes", "", "", "n1"), authorizer.DecisionNoOpinion},
		{"a node in user-info mode", impersonate(controller, "user-info", "nodes", "", "", "n1"), authorizer.DecisionNoOpinion},
		{"legacy impersonation", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: controller}, Verb: "impersonate",
			Resource: "users", Name: "developer", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"impersonating on secrets", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: controller}, Verb: "impersonate-on:user-info:get",
			APIVersion: "v1", Resource: "secrets", Namespace: "kubesphere-system", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"impersonating on clusters/proxy", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: controller}, Verb: "impersonate-on:user-info:create",
			APIGroup: "clusters.kubesphere.io", Resource: "clusters", Subresource: "proxy", Name: "member1", ResourceRequest: true}, authorizer.DecisionAllow},
		{"impersonating on clusters/proxy as a node", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: controller}, Verb: "impersonate-on:associated-node:get",
			APIGroup: "clusters.kubesphere.io", Resource: "clusters", Subresource: "proxy", Name: "member1", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"the controller's own request", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: controller}, Verb: "list",
			APIGroup: "appstore.kubesphere.io", Resource: "applicationreleases", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"someone without the verb impersonating anyone: the host decides", impersonate("admin", "user-info", "users", "", "", "anyone"), authorizer.DecisionNoOpinion},
		{"someone without the verb impersonating a requester: the host decides", impersonate("admin", "user-info", "users", "", "", "developer"), authorizer.DecisionNoOpinion},
	}
	for _, tc := range cases {
		got, reason, err := a.Authorize(context.Background(), tc.attrs)
		if err != nil || got != tc.want {
			t.Errorf("%s: decision %v (%q, %v), want %v", tc.name, got, reason, err, tc.want)
		}
	}
}

// A release deleted for good takes its requester's impersonation with it; one made later
// grants it once the cache has seen it.
func TestFollowsReleases(t *testing.T) {
	client := fake.NewSimpleClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	a, err := New(hostRBAC{}, releaseSource(factory))
	if err != nil {
		t.Fatal(err)
	}
	asDev := impersonate(controller, "user-info", "users", "", "", "developer")
	if d, _, _ := a.Authorize(context.Background(), asDev); d != authorizer.DecisionNoOpinion {
		t.Fatalf("before the cache synced: %v, want no opinion (the host denies)", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), a.synced)
	if d, _, _ := a.Authorize(context.Background(), asDev); d != authorizer.DecisionNoOpinion {
		t.Fatalf("no release yet: %v, want no opinion", d)
	}
	rels := client.AppstoreV1alpha1().ApplicationReleases()
	if _, err := rels.Create(ctx, released("web", v1alpha1.Requester{Username: "developer"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		d, _, _ := a.Authorize(context.Background(), asDev)
		return d == authorizer.DecisionAllow
	})
	if err := rels.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		d, _, _ := a.Authorize(context.Background(), asDev)
		return d == authorizer.DecisionNoOpinion
	})
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
