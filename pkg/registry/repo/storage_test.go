package repo

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/appstore"
)

type countingAuthorizer struct {
	allow bool
	asked []authorizer.Attributes
}

func (a *countingAuthorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	a.asked = append(a.asked, attrs)
	if a.allow {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func repoWith(url, secret string) *appstore.Repo {
	r := &appstore.Repo{ObjectMeta: metav1.ObjectMeta{Name: "charts"}, Spec: appstore.RepoSpec{URL: url}}
	if secret != "" {
		r.Spec.CredentialsSecretRef = &appstore.LocalSecretReference{Name: secret}
	}
	return r
}

// A Repo is admitted by the requester's right to read the Secret it names, asked only when
// the Secret or where its credentials go (URL, CA) changes.
func TestGuard(t *testing.T) {
	ctx := request.WithUser(context.Background(), &user.DefaultInfo{Name: "dev"})
	deny := &countingAuthorizer{}
	g := Guard{Authorizer: deny, CredentialsNamespace: "kubesphere-system"}

	if err := g.admit(ctx, repoWith("https://a/charts", ""), nil); err != nil {
		t.Fatalf("no Secret named: %v", err)
	}
	if err := g.admit(ctx, repoWith("https://a/charts", "creds"), nil); !apierrors.IsForbidden(err) {
		t.Fatalf("naming a Secret the user may not read: %v, want Forbidden", err)
	}
	if got := deny.asked[0]; got.GetNamespace() != "kubesphere-system" || got.GetName() != "creds" || got.GetVerb() != "get" {
		t.Fatalf("asked %+v, want get secrets kubesphere-system/creds", got)
	}
	old := repoWith("https://a/charts", "creds")
	unchanged := repoWith("https://a/charts", "creds")
	unchanged.Labels = map[string]string{"team": "x"}
	if err := g.admit(ctx, unchanged, old); err != nil {
		t.Fatalf("a label change on a Repo whose Secret stays: %v", err)
	}
	for name, changed := range map[string]*appstore.Repo{
		"url":    repoWith("https://elsewhere/charts", "creds"),
		"secret": repoWith("https://a/charts", "other"),
	} {
		if err := g.admit(ctx, changed, old); !apierrors.IsForbidden(err) {
			t.Errorf("changing the %s: %v, want Forbidden", name, err)
		}
	}
	moved := repoWith("https://a/charts", "creds")
	moved.Spec.CABundle = []byte("another CA")
	if err := g.admit(ctx, moved, old); !apierrors.IsForbidden(err) {
		t.Errorf("changing the CA: %v, want Forbidden", err)
	}
	allow := Guard{Authorizer: &countingAuthorizer{allow: true}, CredentialsNamespace: "kubesphere-system"}
	if err := allow.admit(ctx, repoWith("https://a/charts", "creds"), nil); err != nil {
		t.Fatalf("a user who may read the Secret: %v", err)
	}
}

func TestStrategyOwnsStatus(t *testing.T) {
	s := newStrategy(nil)
	r := repoWith("https://a/charts", "")
	r.Status.ChartCount = 9
	s.PrepareForCreate(context.Background(), r)
	if r.Status.ChartCount != 0 || r.Generation != 1 {
		t.Fatalf("after create: status %+v, generation %d", r.Status, r.Generation)
	}
	old := r.DeepCopy()
	old.Status.ChartCount = 3
	upd := old.DeepCopy()
	upd.Status.ChartCount = 7
	upd.Spec.URL = "https://b/charts"
	s.PrepareForUpdate(context.Background(), upd, old)
	if upd.Status.ChartCount != 3 || upd.Generation != 2 {
		t.Fatalf("after a spec update: status %+v, generation %d", upd.Status, upd.Generation)
	}
	st := statusStrategy{s}
	w := old.DeepCopy()
	w.Spec.URL = "https://evil/charts"
	w.Status.ChartCount = 4
	st.PrepareForUpdate(context.Background(), w, old)
	if w.Spec.URL != old.Spec.URL || w.Status.ChartCount != 4 {
		t.Fatalf("a status write changed the spec or lost the status: %+v", w)
	}
}
