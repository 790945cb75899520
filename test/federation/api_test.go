package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/test/framework"
)

// apiUser is the user of TestFederatedObjectsAPI.
const apiUser = "federation-api-user"

// deployment is a FederatedObject of a Deployment in namespace web, placed on clusters.
func deployment(name string, clusters ...string) string {
	return object(name, "apps/v1", "Deployment", clusters...)
}

// object is a FederatedObject in namespace web of a template of that kind, with a
// per-cluster override for member1.
func object(name, apiVersion, kind string, clusters ...string) string {
	obj, _ := json.Marshal(map[string]any{
		"apiVersion": "federation.kubesphere.io/v1alpha1", "kind": "FederatedObject",
		"metadata": map[string]any{"name": name, "namespace": "web"},
		"spec": map[string]any{
			"template": map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name},
				"spec": map[string]any{"replicas": 2}},
			"placement": map[string]any{"clusters": clusters},
			"overrides": []any{map[string]any{"cluster": "member1", "patches": []any{
				map[string]any{"op": "replace", "path": "/spec/replicas", "value": 3}}}},
		},
		"status": map[string]any{"requester": map[string]any{"username": "system:admin"}},
	})
	return string(obj)
}

// The API: served by cluster-apiserver, stored with who asked (never what the client
// wrote), checked for what a member could not take, and admitted only when the requester
// may use every cluster it places the object on.
func TestFederatedObjectsAPI(t *testing.T) {
	ctx := context.Background()
	out := framework.Kubectl(t, env, "host", "", "api-resources", "--api-group=federation.kubesphere.io", "--no-headers")
	assert.Regexp(t, `clusterfederatedobjects\s+cfo\s+federation.kubesphere.io/v1alpha1\s+false\s+ClusterFederatedObject`, out)
	assert.Regexp(t, `federatedobjects\s+fo\s+federation.kubesphere.io/v1alpha1\s+true\s+FederatedObject`, out)

	// A user who may place objects in host namespace web, and use member1 only (not the
	// developer: the host's decisions are cached, and other tests grant it member2).
	framework.Kubectl(t, env, "host", "", "create", "namespace", "web")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "namespace", "web", "--wait=false") })
	grant := fmt.Sprintf(`{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "federation-user", "namespace": "web"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:federation-user"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "federation-test-use-member1"},
   "rules": [{"apiGroups": ["clusters.kubesphere.io"], "resources": ["clusters/proxy"], "resourceNames": ["member1"],
              "verbs": ["get", "create", "delete"]}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "federation-test-use-member1"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "federation-test-use-member1"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]}]}`, apiUser)
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", grant, "delete", "-f", "-") })
	dev := framework.UserKubeconfig(t, env, env.HostURL(), apiUser, "developers")
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }

	_, err := asDev(deployment("web", "member1"), "create", "-f", "-")
	require.NoError(t, err)
	var fo v1alpha1.FederatedObject
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "fo", "web", "-n", "web", "-o", "json")), &fo))
	assert.Equal(t, apiUser, fo.Status.Requester.Username, "the server records who asked")
	assert.Contains(t, fo.Status.Requester.Groups, "developers")
	assert.Contains(t, fo.Finalizers, "federation.kubesphere.io/cleanup")
	assert.Equal(t, v1alpha1.DeletionPolicyDelete, fo.Spec.DeletionPolicy)
	assert.Equal(t, v1alpha1.ConflictPolicyRefuse, fo.Spec.ConflictPolicy)
	assert.Equal(t, v1alpha1.DriftPolicyReport, fo.Spec.Drift)
	assert.EqualValues(t, 1, fo.Generation)
	assert.Regexp(t, `NAME\s+KIND\s+CLUSTERS\s+READY\s+AGE\s+web\s+Deployment\s+\d/[01]\s`,
		framework.Kubectl(t, env, "host", "", "get", "federatedobjects", "-n", "web"))
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "fo", "-n", "web", "--field-selector=spec.template.kind=Deployment", "-o", "name"),
		"federatedobject.federation.kubesphere.io/web")
	assert.Empty(t, framework.Kubectl(t, env, "host", "", "get", "fo", "-n", "web", "--field-selector=spec.template.kind=Secret", "-o", "name"))

	// member2 is not the developer's: refused, naming the cluster and the right; nothing stored.
	_, err = asDev(deployment("web2", "member1", "member2"), "create", "-f", "-")
	assert.ErrorContains(t, err, `may not create clusters/proxy "member2"`)
	_, err = framework.TryKubectl(t, env, "host", "", "get", "fo", "web2", "-n", "web")
	assert.ErrorContains(t, err, "NotFound")
	_, err = asDev("", "patch", "fo", "web", "-n", "web", "--type=merge", "-p", `{"spec":{"placement":{"clusters":["member1","member2"]}}}`)
	assert.ErrorContains(t, err, `may not create clusters/proxy "member2"`)

	// What a member could not take, or that would change the object's identity, is invalid.
	_, err = asDev(object("cr", "rbac.authorization.k8s.io/v1", "ClusterRole", "member1"), "create", "-f", "-")
	assert.ErrorContains(t, err, "a cluster-scoped kind: place it with a ClusterFederatedObject")
	_, err = asDev("", "patch", "fo", "web", "-n", "web", "--type=merge", "-p", `{"spec":{"template":{"kind":"StatefulSet"}}}`)
	assert.ErrorContains(t, err, "the template's kind and name are immutable")
	_, err = asDev("", "patch", "fo", "web", "-n", "web", "--type=json", "-p",
		`[{"op":"add","path":"/spec/overrides/0/patches/-","value":{"op":"replace","path":"/metadata/name","value":"x"}}]`)
	assert.ErrorContains(t, err, "the object's identity is the same on every cluster")
	_, err = framework.TryKubectl(t, env, "host", `{"apiVersion":"federation.kubesphere.io/v1alpha1","kind":"ClusterFederatedObject",
  "metadata":{"name":"ns-web"},"spec":{"template":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"web"}}}}`, "create", "-f", "-")
	assert.ErrorContains(t, err, "a ClusterFederatedObject has no namespace to follow")

	// A change of spec is a new generation; a label is not.
	_, err = asDev("", "label", "fo", "web", "-n", "web", "team=web")
	require.NoError(t, err)
	_, err = asDev("", "patch", "fo", "web", "-n", "web", "--type=merge", "-p", `{"spec":{"drift":"Revert"}}`)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "fo", "web", "-n", "web", "-o", "json")), &fo))
	assert.EqualValues(t, 2, fo.Generation)

	// An administrator in system:masters is told to ask as a user federation can act as.
	_, err = framework.TryKubectl(t, env, "host", deployment("admin", "member1"), "create", "-f", "-")
	assert.ErrorContains(t, err, "which Kubernetes lets no one impersonate")

	// Deleting needs the right to clean up where the object was applied (member1 at most,
	// which this user may use): admitted, and the finalizer lets it go once cleaned.
	_, err = asDev("", "delete", "fo", "web", "-n", "web", "--timeout=60s")
	require.NoError(t, err)
}

// Without --federation the group is not served at all.
func TestFederationOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, err := env.StartExtraClusterAPIServer(ctx, "no-federation", framework.FreePort(t),
		"--embedded-etcd-data-dir="+t.TempDir(), "--federation=false")
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop("host-no-federation") })
	dc, err := discovery.NewDiscoveryClientForConfig(framework.AdminRESTConfig(t, env, url))
	require.NoError(t, err)
	groups, err := dc.ServerGroups()
	require.NoError(t, err)
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	assert.Contains(t, names, "clusters.kubesphere.io")
	assert.NotContains(t, names, "federation.kubesphere.io")
	_, err = dc.ServerResourcesForGroupVersion("federation.kubesphere.io/v1alpha1")
	assert.True(t, apierrors.IsNotFound(err), "the group's resources: %v", err)
}
