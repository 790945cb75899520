package access

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

type fakeAuthorizer struct {
	allow bool
	got   authorizer.Attributes
}

func (f *fakeAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	f.got = a
	if f.allow {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "no RBAC rule", errors.New("webhook slow")
}

func TestReadSecret(t *testing.T) {
	repos := schema.GroupResource{Group: "appstore.kubesphere.io", Resource: "repos"}
	ctx := request.WithUser(context.Background(), &user.DefaultInfo{Name: "dev"})

	allow := &fakeAuthorizer{allow: true}
	if err := ReadSecret(ctx, allow, repos, "bitnami", "kubesphere-system", "creds"); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	a := allow.got
	if a.GetUser().GetName() != "dev" || a.GetVerb() != "get" || a.GetResource() != "secrets" ||
		a.GetNamespace() != "kubesphere-system" || a.GetName() != "creds" || !a.IsResourceRequest() {
		t.Fatalf("asked %+v, want get secrets kubesphere-system/creds as dev", a)
	}

	err := ReadSecret(ctx, &fakeAuthorizer{}, repos, "bitnami", "kubesphere-system", "creds")
	if !apierrors.IsForbidden(err) {
		t.Fatalf("denied: %v, want Forbidden", err)
	}
	want := `repos.appstore.kubesphere.io "bitnami" is forbidden: naming credentials Secret kubesphere-system/creds ` +
		`(or changing where its credentials are sent) needs the right to read it: user "dev" may not get secrets "creds" ` +
		`in namespace "kubesphere-system": no RBAC rule (webhook slow)`
	if err.Error() != want {
		t.Fatalf("message\n%s\nwant\n%s", err, want)
	}

	if err := ReadSecret(context.Background(), allow, repos, "bitnami", "ns", "s"); !apierrors.IsForbidden(err) {
		t.Fatalf("no user: %v, want Forbidden", err)
	}
	if err := ReadSecret(ctx, nil, repos, "bitnami", "ns", "s"); !apierrors.IsForbidden(err) {
		t.Fatalf("no authorizer: %v, want Forbidden", err)
	}
}
