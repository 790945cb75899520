package appstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// uploadQuota is this environment's --app-store-upload-quota: three archives of 19 MiB.
const uploadQuota = "64Mi"

// versionAt reads an ApplicationVersion as the admin.
func versionAt(t *testing.T, name string) v1alpha1.ApplicationVersion {
	t.Helper()
	var v v1alpha1.ApplicationVersion
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "applicationversion", name, "-o", "json")), &v))
	return v
}

// An Upload repo's charts follow the review: a team makes a version, uploads its archive
// (up to 20 MiB) and submits it; a reviewer passes or rejects it; an operator activates,
// suspends and recovers it. Each step is its own permission, refused to the others; only
// an Active version can be installed; a Repo deleted takes its uploads with it.
func TestUploadReview(t *testing.T) {
	ctx := context.Background()
	repo(t, "team", "", map[string]any{"source": "Upload"})
	_, c := syncedCondition(t, "team")
	require.Equal(t, "True", string(c.Status), c.Message)

	// Three people, each with one of the shipped roles (artifacts/base/user-rbac.yaml).
	people := map[string]string{"uploader": "kubesphere:appstore-uploader", "reviewer": "kubesphere:appstore-reviewer",
		"operator": "kubesphere:appstore-operator"}
	as := map[string]func(stdin string, args ...string) (string, error){}
	for who, role := range people {
		binding := "appstore-test-" + who
		framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", binding, "--clusterrole="+role, "--user="+who)
		t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding", binding) })
		kubeconfig := framework.UserKubeconfig(t, env, env.HostURL(), who)
		as[who] = func(stdin string, args ...string) (string, error) {
			return env.KubectlAs(ctx, kubeconfig, "", stdin, args...)
		}
	}
	const name = "team.hello-upload.0.1.0"
	base := "/apis/appstore.kubesphere.io/v1alpha1/applicationversions/" + name
	dir := t.TempDir()
	file := func(file string, body []byte) string {
		p := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(p, body, 0o600))
		return p
	}
	review := file("review.json", []byte(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ReviewRequest", "message": "looks right"}`))
	rejection := file("reject.json", []byte(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ReviewRequest", "message": "values.yaml lacks docs"}`))
	transition := func(who, action, body string) error {
		_, err := as[who]("", "create", "--raw", base+"/"+action, "-f", body)
		return err
	}
	upload := func(who string, archive []byte) error {
		_, err := as[who]("", "replace", "--raw", base+"/chart", "-f", file(fmt.Sprintf("chart-%d.tgz", time.Now().UnixNano()), archive))
		return err
	}
	state := func() string { return string(versionAt(t, name).Status.State) }

	// A version is made with its name and chart; the server fills the rest: Draft, and who.
	manifest := fmt.Sprintf(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationVersion", "metadata": {"name": %q},
  "spec": {"repo": "team", "chart": "hello-upload", "version": "0.1.0"}, "status": {"state": "Active"}}`, name)
	_, err := as["reviewer"](manifest, "create", "-f", "-")
	assert.ErrorContains(t, err, "Forbidden", "making versions is the uploader's")
	_, err = as["uploader"](manifest, "create", "-f", "-")
	require.NoError(t, err)
	v := versionAt(t, name)
	assert.Equal(t, v1alpha1.AppStateDraft, v.Status.State, "a client does not set the state")
	assert.Equal(t, "uploader", v.Annotations["appstore.kubesphere.io/uploaded-by"])
	assert.Regexp(t, `team\.hello-upload\.0\.1\.0\s+team\.hello-upload\s+0\.1\.0\s+Draft`,
		framework.Kubectl(t, env, "host", "", "get", "applicationversions", "-l", "appstore.kubesphere.io/repo=team"))
	_, err = as["uploader"](manifest, "create", "-f", "-")
	assert.ErrorContains(t, err, "AlreadyExists")
	// Its labels are the uploader's; its spec and status are not.
	_, err = as["uploader"]("", "label", "applicationversion", name, "team=web")
	require.NoError(t, err)
	assert.Equal(t, "web", versionAt(t, name).Labels["team"])
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "applicationversions", "-l", "team=web", "-o", "name"), name)
	_, err = as["uploader"]("", "patch", "applicationversion", name, "--type=merge", "-p", `{"spec":{"digest":"sha256:00"}}`)
	assert.ErrorContains(t, err, "only labels and annotations can be changed")
	// A name that is not <repo>.<chart>.<version>, and a version in an Index repo: refused.
	_, err = as["uploader"](`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationVersion", "metadata": {"name": "team.other.1.0.0"},
  "spec": {"repo": "team", "chart": "hello-upload", "version": "0.1.0"}}`, "create", "-f", "-")
	assert.ErrorContains(t, err, `an uploaded version is named <repo>.<chart>.<version>: "team.hello-upload.0.1.0"`)
	repo(t, "indexed", env.ChartRepoURL(), map[string]any{"caBundle": caBundle(t)})
	_, err = framework.TryKubectl(t, env, "host", `{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationVersion", "metadata": {"name": "indexed.hello.9.0.0"},
  "spec": {"repo": "indexed", "chart": "hello", "version": "9.0.0"}}`, "create", "-f", "-")
	assert.ErrorContains(t, err, "MethodNotAllowed")
	assert.ErrorContains(t, err, "upload charts to a Repo with spec.source Upload")

	// No archive yet: nothing to submit.
	err = transition("uploader", "submit", review)
	assert.ErrorContains(t, err, "has no chart archive yet: upload it first")

	// Archives: over 20 MiB refused, a chart of another name or version refused, 19 MiB
	// stored; the reviewer may not upload.
	err = upload("uploader", framework.ChartArchive(t, "hello-upload", "0.1.0", 21<<20))
	assert.ErrorContains(t, err, "at most 20 MiB")
	err = upload("uploader", framework.ChartArchive(t, "hello-upload", "0.2.0", 0))
	assert.ErrorContains(t, err, "Chart.yaml names hello-upload 0.2.0")
	err = upload("uploader", []byte("not an archive"))
	assert.ErrorContains(t, err, "not a Helm chart archive")
	big := framework.ChartArchive(t, "hello-upload", "0.1.0", 19<<20)
	require.Greater(t, len(big), 19<<20)
	err = upload("reviewer", big)
	assert.ErrorContains(t, err, "Forbidden")
	require.NoError(t, upload("uploader", big))
	sum := sha256.Sum256(big)
	v = versionAt(t, name)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), v.Spec.Digest)
	assert.Equal(t, int64(len(big)), v.Status.ChartSize)
	assert.Equal(t, "1.0", v.Spec.AppVersion, "filled from Chart.yaml")
	assert.Equal(t, v1alpha1.AppStateDraft, v.Status.State)

	// The developer (an App Store user) may not install it before it is Active.
	grantDeveloper(t)
	dev := framework.UserKubeconfig(t, env, env.HostURL(), localenv.DeveloperUser, "developers")
	releaseOf := func(name string) string {
		return fmt.Sprintf(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationRelease", "metadata": {"name": %q},
  "spec": {"application": "team.hello-upload", "version": "0.1.0", "targetNamespace": "default", "placement": {"clusters": ["member1"]}}}`, name)
	}
	_, err = env.KubectlAs(ctx, dev, "", releaseOf("uploaded-early"), "create", "-f", "-")
	assert.ErrorContains(t, err, "VersionNotActive")
	assert.ErrorContains(t, err, "is Draft")

	// The quota counts every stored archive: two more of 19 MiB pass, the third would
	// go beyond it.
	for i, want := range []string{"", "", "upload quota is exceeded"} {
		other := fmt.Sprintf("team.filler.0.%d.0", i)
		_, err := as["uploader"](fmt.Sprintf(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationVersion",
  "metadata": {"name": %q}, "spec": {"repo": "team", "chart": "filler", "version": "0.%d.0"}}`, other, i), "create", "-f", "-")
		require.NoError(t, err)
		_, err = as["uploader"]("", "replace", "--raw", "/apis/appstore.kubesphere.io/v1alpha1/applicationversions/"+other+"/chart",
			"-f", file(other+".tgz", framework.ChartArchive(t, "filler", fmt.Sprintf("0.%d.0", i), 19<<20)))
		if want == "" {
			require.NoError(t, err)
		} else {
			assert.ErrorContains(t, err, want)
		}
	}
	for i := range 3 {
		_, err := as["uploader"]("", "delete", "applicationversion", fmt.Sprintf("team.filler.0.%d.0", i))
		require.NoError(t, err)
	}

	// Submit, then a rejection sends it back to the uploader, who fixes and submits again.
	assert.ErrorContains(t, transition("reviewer", "submit", review), "Forbidden")
	require.NoError(t, transition("uploader", "submit", review))
	assert.Equal(t, "Submitted", state())
	assert.ErrorContains(t, upload("uploader", big), "is Submitted: an archive can be uploaded in Draft or Rejected only")
	assert.ErrorContains(t, transition("uploader", "pass", review), "Forbidden", "no one passes their own")
	assert.ErrorContains(t, transition("operator", "activate", review), "is Submitted: activate needs it Passed")
	require.NoError(t, transition("reviewer", "reject", rejection))
	assert.Equal(t, "Rejected", state())
	small := framework.ChartArchive(t, "hello-upload", "0.1.0", 0)
	require.NoError(t, upload("uploader", small))
	require.NoError(t, transition("uploader", "submit", review))
	assert.ErrorContains(t, transition("operator", "pass", review), "Forbidden")
	require.NoError(t, transition("reviewer", "pass", review))
	assert.Equal(t, "Passed", state())
	assert.ErrorContains(t, transition("reviewer", "activate", review), "Forbidden")
	require.NoError(t, transition("operator", "activate", review))
	v = versionAt(t, name)
	assert.Equal(t, v1alpha1.AppStateActive, v.Status.State)
	var trail []string
	for _, r := range v.Status.Reviews {
		trail = append(trail, fmt.Sprintf("%s %s %s->%s", r.User, r.Action, r.From, r.To))
	}
	assert.Equal(t, []string{"uploader Submit Draft->Submitted", "reviewer Reject Submitted->Rejected",
		"uploader Submit Rejected->Submitted", "reviewer Pass Submitted->Passed", "operator Activate Passed->Active"}, trail)
	assert.Equal(t, "values.yaml lacks docs", v.Status.Reviews[1].Message)

	// The reviewer reads the archive that was stored last, byte for byte.
	got, err := as["reviewer"]("", "get", "--raw", base+"/chart")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(small, []byte(got)), "the chart subresource serves the uploaded archive")
	var app v1alpha1.Application
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "application", "team.hello-upload", "-o", "json")), &app))
	assert.Equal(t, "0.1.0", app.Status.LatestVersion)
	assert.Equal(t, v1alpha1.AppStateActive, app.Status.State)

	// Active: the developer's release is admitted (this environment runs no controller).
	t.Cleanup(func() { dropRelease(t, "uploaded") })
	_, err = env.KubectlAs(ctx, dev, "", releaseOf("uploaded"), "create", "-f", "-")
	require.NoError(t, err)

	// Suspended: no new release; recovered: Active again.
	assert.ErrorContains(t, transition("uploader", "suspend", review), "Forbidden")
	require.NoError(t, transition("operator", "suspend", review))
	assert.Equal(t, "Suspended", state())
	_, err = env.KubectlAs(ctx, dev, "", releaseOf("uploaded-suspended"), "create", "-f", "-")
	assert.ErrorContains(t, err, "is Suspended")
	require.NoError(t, transition("operator", "recover", review))
	assert.Equal(t, "Active", state())

	// Deleting: the reviewer may not; the uploader may; the archive goes with it.
	_, err = as["reviewer"]("", "delete", "applicationversion", name)
	assert.ErrorContains(t, err, "Forbidden")
	_, err = as["uploader"]("", "delete", "applicationversion", name)
	require.NoError(t, err)
	_, err = framework.TryKubectl(t, env, "host", "", "get", "applicationversion", name)
	assert.ErrorContains(t, err, "NotFound")
	_, err = as["reviewer"]("", "get", "--raw", base+"/chart")
	assert.ErrorContains(t, err, "NotFound")

	// A Repo deleted takes its uploads: the same name made again starts empty.
	_, err = as["uploader"](manifest, "create", "-f", "-")
	require.NoError(t, err)
	// Creation times have whole seconds: the new Repo is then surely younger than the version
	// (one made in the same second as a Repo it does not belong to is collected after a grace).
	time.Sleep(1100 * time.Millisecond)
	framework.Kubectl(t, env, "host", "", "delete", "repo", "team")
	repo(t, "team", "", map[string]any{"source": "Upload"})
	require.Eventually(t, func() bool {
		_, err := framework.TryKubectl(t, env, "host", "", "get", "applicationversion", name)
		return err != nil
	}, 30*time.Second, 250*time.Millisecond, "a version of the deleted Repo is not shown in the new one")
	assert.Eventually(t, func() bool {
		_, err := as["uploader"](manifest, "create", "-f", "-")
		return err == nil
	}, 30*time.Second, 250*time.Millisecond, "the old record is removed, so the name is free")
}

// grantDeveloper makes the local developer an App Store user who may use member1.
func grantDeveloper(t *testing.T) {
	t.Helper()
	grant := fmt.Sprintf(`{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "appstore-upload-dev"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:appstore-user"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "appstore-upload-use-member1"},
   "rules": [{"apiGroups": ["clusters.kubesphere.io"], "resources": ["clusters/proxy"], "resourceNames": ["member1"], "verbs": ["create"]}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "appstore-upload-use-member1"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "appstore-upload-use-member1"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]}]}`, localenv.DeveloperUser)
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", grant, "delete", "-f", "-") })
}
