package upload

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

func version(name, chart, ver string) *appstore.ApplicationVersion {
	return &appstore.ApplicationVersion{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appstore.ApplicationVersionSpec{Chart: chart, Version: ver}}
}

// A new version's name is exactly <repo>.<chart>.<version>, lowercase, so that it never
// depends on the other versions (the views hash names that do not fit).
func TestValidateNew(t *testing.T) {
	for _, c := range []struct {
		v    *appstore.ApplicationVersion
		want string // "" valid, else part of the error
	}{
		{version("team.web.1.0.0", "web", "1.0.0"), ""},
		{version("team.web.1.0.0-rc.1", "web", "1.0.0-rc.1"), ""},
		{version("team.web.1.0.0", "", "1.0.0"), "spec.chart: Required"},
		{version("team.web.1.0.0", "web", ""), "spec.version: Required"},
		{version("team.Web.1.0.0", "Web", "1.0.0"), "must be lowercase"},
		{version("team.web.1.0.0+b1", "web", "1.0.0+b1"), "no '+' build metadata"},
		{version("team.other.1.0.0", "web", "1.0.0"), `named <repo>.<chart>.<version>: "team.web.1.0.0"`},
		{version("team.web."+strings.Repeat("1", 250), "web", strings.Repeat("1", 250)), "too long for a name"},
	} {
		errs := validateNew(c.v, "team")
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s: %v, want valid", c.v.Name, errs)
		case c.want != "" && !strings.Contains(errs.ToAggregate().Error(), c.want):
			t.Errorf("%s: %v, want %q", c.v.Name, errs, c.want)
		}
	}
}

// Each action leaves only the states of KubeSphere's review flow and says why not.
func TestTransitions(t *testing.T) {
	all := []appstore.AppState{appstore.AppStateDraft, appstore.AppStateSubmitted, appstore.AppStatePassed,
		appstore.AppStateRejected, appstore.AppStateActive, appstore.AppStateSuspended}
	allowed := map[appstore.ReviewAction][]appstore.AppState{
		appstore.ReviewActionSubmit:   {appstore.AppStateDraft, appstore.AppStateRejected},
		appstore.ReviewActionPass:     {appstore.AppStateSubmitted},
		appstore.ReviewActionReject:   {appstore.AppStateSubmitted},
		appstore.ReviewActionActivate: {appstore.AppStatePassed},
		appstore.ReviewActionSuspend:  {appstore.AppStateActive},
		appstore.ReviewActionRecover:  {appstore.AppStateSuspended},
	}
	if len(Actions()) != len(allowed) {
		t.Fatalf("Actions() = %v", Actions())
	}
	for _, action := range Actions() {
		for _, from := range all {
			rec := version("team.web.1.0.0", "web", "1.0.0")
			rec.Spec.Digest = "sha256:00"
			rec.Status.State = from
			err := transitions[action].allowed(rec, action)
			want := false
			for _, s := range allowed[action] {
				want = want || s == from
			}
			if want && err != nil {
				t.Errorf("%s from %s: %v", action, from, err)
			}
			if !want && (!apierrors.IsConflict(err) || !strings.Contains(err.Error(), "is "+string(from))) {
				t.Errorf("%s from %s: %v, want Conflict naming the state", action, from, err)
			}
		}
	}
	draft := version("team.web.1.0.0", "web", "1.0.0")
	draft.Status.State = appstore.AppStateDraft
	if err := transitions[appstore.ReviewActionSubmit].allowed(draft, appstore.ReviewActionSubmit); !apierrors.IsConflict(err) ||
		!strings.Contains(err.Error(), "upload it first") {
		t.Errorf("submit without an archive: %v", err)
	}
	if Subresource(appstore.ReviewActionActivate) != "activate" {
		t.Errorf("subresource %q", Subresource(appstore.ReviewActionActivate))
	}
}

// A snapshot lists the versions of the Repo's UID only, newest first, with their review
// facts and without the stored-only annotation.
func TestSnapshot(t *testing.T) {
	repo := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "u1"}}
	rec := func(ver string, state appstore.AppState) *appstore.ApplicationVersion {
		r := version("team.web."+ver, "web", ver)
		r.Spec.Repo, r.Spec.Digest = "team", "sha256:"+strings.Repeat("ab", 32)
		r.ResourceVersion = "7"
		r.Annotations = map[string]string{appstore.UploaderAnnotation: "alice", repoUIDAnnotation: "u1"}
		r.Status.State = state
		return r
	}
	snap := snapshot(repo, []*appstore.ApplicationVersion{rec("1.0.0", appstore.AppStateActive), rec("2.0.0", appstore.AppStateDraft)})
	if len(snap.Index.Charts) != 1 || len(snap.Index.Charts[0].Versions) != 2 || snap.Index.Charts[0].Versions[0].Version != "2.0.0" {
		t.Fatalf("charts %+v", snap.Index.Charts)
	}
	if !snap.Index.Charts[0].Versions[0].HasDigest() {
		t.Errorf("digest not kept")
	}
	if snap.State("web", "2.0.0") != appstore.AppStateDraft || snap.State("web", "1.0.0") != appstore.AppStateActive {
		t.Errorf("states %+v", snap.Uploads)
	}
	u := snap.Uploads["web/1.0.0"]
	if u.Annotations[appstore.UploaderAnnotation] != "alice" || u.Annotations[repoUIDAnnotation] != "" {
		t.Errorf("annotations %v", u.Annotations)
	}
}
