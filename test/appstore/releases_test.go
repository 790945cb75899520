package appstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// releaseManifest is an ApplicationRelease of rel.hello placed on cluster, with a status
// a client has no say in.
func releaseManifest(name, version, cluster string) string {
	return fmt.Sprintf(`{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationRelease",
  "metadata": {"name": %q},
  "spec": {"application": "rel.hello", "version": %q, "targetNamespace": "default", "placement": {"clusters": [%q]}},
  "status": {"requester": {"username": "system:admin", "groups": ["system:masters"]}}}`, name, version, cluster)
}

func getRelease(t *testing.T, name string) v1alpha1.ApplicationRelease {
	t.Helper()
	var r v1alpha1.ApplicationRelease
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "applicationrelease", name, "-o", "json")), &r))
	return r
}

// dropRelease removes a release without its uninstall (this environment runs no App Store
// controller to take the finalizer off).
func dropRelease(t *testing.T, name string) {
	_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", name, "--wait=false", "--ignore-not-found")
	_, _ = framework.TryKubectl(t, env, "host", "", "patch", "applicationrelease", name, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
}

// A release records who asked, not what the client wrote; it is refused, with nothing
// stored, when the requester may not use a cluster it names or the version is not in the
// catalog; and deleting it needs the right to uninstall from each cluster it is on.
func TestReleaseAdmission(t *testing.T) {
	ctx := context.Background()
	repo(t, "rel", env.ChartRepoURL(), map[string]any{"caBundle": caBundle(t)})
	_, c := syncedCondition(t, "rel")
	require.Equal(t, "True", string(c.Status), c.Message)

	// The developer is an App Store user who may use member1 through the host, not member2
	// (as the local environment grants it; no member runs here: admission is the host's).
	grant := fmt.Sprintf(`{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "appstore-user-dev"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:appstore-user"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "appstore-test-use-member1"},
   "rules": [{"apiGroups": ["clusters.kubesphere.io"], "resources": ["clusters/proxy"], "resourceNames": ["member1"],
              "verbs": ["get", "create", "update", "patch", "delete"]}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "appstore-test-use-member1"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "appstore-test-use-member1"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]}]}`, localenv.DeveloperUser)
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", grant, "delete", "-f", "-") })
	dev := framework.UserKubeconfig(t, env, env.HostURL(), localenv.DeveloperUser, "developers")
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }

	t.Cleanup(func() { dropRelease(t, "web") })
	_, err := asDev(releaseManifest("web", "0.2.0", "member1"), "create", "-f", "-")
	require.NoError(t, err)
	r := getRelease(t, "web")
	assert.Equal(t, localenv.DeveloperUser, r.Status.Requester.Username, "the server records who asked")
	assert.Contains(t, r.Status.Requester.Groups, "developers")
	assert.NotContains(t, r.Status.Requester.Groups, "system:masters")
	assert.Contains(t, r.Finalizers, "appstore.kubesphere.io/uninstall")
	assert.Equal(t, "web", r.Spec.ReleaseName, "the release name defaults to the object's")
	require.Len(t, r.Status.Requests, 1)
	assert.Equal(t, v1alpha1.RequestActionCreate, r.Status.Requests[0].Action)
	assert.Regexp(t, `NAME\s+APPLICATION\s+VERSION\s+DEPLOYED\s+READY\s+AGE\s+web\s+rel\.hello\s+0\.2\.0\s+0/0\s+Unknown`,
		framework.Kubectl(t, env, "host", "", "get", "applicationreleases"))

	// member2 is not the developer's to use: refused, naming the cluster and the right.
	_, err = asDev(releaseManifest("web2", "0.2.0", "member2"), "create", "-f", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Forbidden`)
	assert.Contains(t, err.Error(), `may not create clusters/proxy "member2"`)
	_, err = framework.TryKubectl(t, env, "host", "", "get", "applicationrelease", "web2")
	assert.ErrorContains(t, err, "NotFound", "a refused release is not stored")

	// A version the catalog does not have is invalid, and says where to look.
	_, err = asDev(releaseManifest("web3", "9.9.9", "member1"), "create", "-f", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.version: Not found")
	assert.Contains(t, err.Error(), "kubectl get applicationversions")

	// A release someone else placed on member2: the developer may label it (nothing is
	// done on a cluster), but neither upgrade nor delete it.
	t.Cleanup(func() { dropRelease(t, "other") })
	// (An administrator in system:masters is refused: no one may impersonate that group,
	// so the App Store could never act as them. They ask as another user.)
	_, err = framework.TryKubectl(t, env, "host", releaseManifest("other", "0.1.0", "member2"), "create", "-f", "-")
	assert.ErrorContains(t, err, "which Kubernetes lets no one impersonate")
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "appstore-test-release-admin", "--clusterrole=cluster-admin", "--user=release-admin")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding", "appstore-test-release-admin")
	})
	framework.Kubectl(t, env, "host", releaseManifest("other", "0.1.0", "member2"), "create", "--as=release-admin", "-f", "-")
	_, err = asDev("", "label", "applicationrelease", "other", "team=web")
	require.NoError(t, err)
	_, err = asDev("", "patch", "applicationrelease", "other", "--type=merge", "-p", `{"spec":{"version":"0.2.0"}}`)
	assert.ErrorContains(t, err, `may not create clusters/proxy "member2"`)
	_, err = asDev("", "delete", "applicationrelease", "other", "--wait=false")
	assert.ErrorContains(t, err, `may not delete clusters/proxy "member2"`)
	assert.Nil(t, getRelease(t, "other").DeletionTimestamp, "a refused delete leaves the release")

	// The developer's own delete is recorded: the uninstall will act as the deleter.
	_, err = asDev("", "delete", "applicationrelease", "web", "--wait=false")
	require.NoError(t, err)
	r = getRelease(t, "web")
	require.NotNil(t, r.DeletionTimestamp, "the finalizer holds the release for its uninstall")
	last := r.Status.Requests[len(r.Status.Requests)-1]
	assert.Equal(t, v1alpha1.RequestActionDelete, last.Action)
	assert.Equal(t, localenv.DeveloperUser, last.User)
}
