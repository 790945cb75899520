package appinstall

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// indexRepo registers the local HTTPS chart repository as Repo name and waits until it
// has synced.
func indexRepo(t *testing.T, name string) {
	t.Helper()
	ca, err := os.ReadFile(env.AppStoreCAFile())
	require.NoError(t, err)
	syncedRepo(t, name, map[string]any{"url": env.ChartRepoURL(), "caBundle": ca})
}

// ociRepo registers the local registry's hello chart as Repo name, with the registry's
// login, and waits until it has synced.
func ociRepo(t *testing.T, name string) {
	t.Helper()
	ca, err := os.ReadFile(env.AppStoreCAFile())
	require.NoError(t, err)
	creds, err := env.AppStoreOCISecret()
	require.NoError(t, err)
	secret, err := json.Marshal(creds)
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", string(secret), "apply", "-f", "-")
	syncedRepo(t, name, map[string]any{"url": env.RegistryURL(), "caBundle": ca, "charts": []string{"hello"},
		"credentialsSecretRef": map[string]any{"name": creds.Name}})
}

func syncedRepo(t *testing.T, name string, spec map[string]any) {
	t.Helper()
	obj, err := json.Marshal(map[string]any{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "Repo",
		"metadata": map[string]any{"name": name}, "spec": spec})
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", string(obj), "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", name, "--ignore-not-found") })
	deadline := time.Now().Add(time.Minute)
	for {
		var r v1alpha1.Repo
		require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "repo", name, "-o", "json")), &r))
		c := meta.FindStatusCondition(r.Status.Conditions, "Synced")
		if c != nil && c.Status == "True" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Repo %s did not sync within a minute: %+v", name, c)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// asDeveloper is a kubeconfig of the developer alone, an App Store user on the host.
func asDeveloper(t *testing.T) string {
	t.Helper()
	grant := fmt.Sprintf(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
  "metadata": {"name": "appinstall-appstore-user"},
  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:appstore-user"},
  "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %q}]}`, localenv.DeveloperUser)
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	return framework.UserKubeconfig(t, env, env.HostURL(), localenv.DeveloperUser, "developers")
}

// release is an ApplicationRelease manifest.
func release(name, app, version, namespace string, values map[string]any, clusters ...string) string {
	obj, _ := json.Marshal(map[string]any{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationRelease",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"application": app, "version": version, "targetNamespace": namespace, "values": values,
			"placement": map[string]any{"clusters": clusters}}})
	return string(obj)
}

func getRelease(t *testing.T, name string) (v1alpha1.ApplicationRelease, bool) {
	t.Helper()
	out, err := framework.TryKubectl(t, env, "host", "", "get", "applicationrelease", name, "-o", "json")
	if err != nil {
		require.ErrorContains(t, err, "NotFound")
		return v1alpha1.ApplicationRelease{}, false
	}
	var r v1alpha1.ApplicationRelease
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	return r, true
}

// waitRelease polls the release until done says so, and fails with its last status.
func waitRelease(t *testing.T, name string, timeout time.Duration, done func(r v1alpha1.ApplicationRelease, found bool) bool) v1alpha1.ApplicationRelease {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, found := getRelease(t, name)
		if done(r, found) {
			return r
		}
		if time.Now().After(deadline) {
			status, _ := json.MarshalIndent(r.Status, "", "  ")
			t.Fatalf("release %s: not as expected within %s; generation %d, status:\n%s\n(controller log: %s)",
				name, timeout, r.Generation, status, env.LogFile("host-appstore-controller"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// deployed: every placed cluster runs the current generation.
func deployed(r v1alpha1.ApplicationRelease, found bool) bool {
	c := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ReleaseReady)
	return found && c != nil && c.Status == "True" && c.ObservedGeneration == r.Generation && r.Status.ObservedGeneration == r.Generation
}

func entry(t *testing.T, r v1alpha1.ApplicationRelease, cluster string) v1alpha1.ClusterRelease {
	t.Helper()
	for _, e := range r.Status.Clusters {
		if e.Cluster == cluster {
			return e
		}
	}
	t.Fatalf("release %s has no status for cluster %s: %+v", r.Name, cluster, r.Status.Clusters)
	return v1alpha1.ClusterRelease{}
}

// helmOnMember runs the helm CLI against a member with its admin credentials, as the
// member's own operator would.
func helmOnMember(t *testing.T, member string, args ...string) string {
	t.Helper()
	out, err := env.Helm(context.Background(), append([]string{"--kubeconfig", env.Kubeconfig(), "--kube-context", member}, args...)...)
	require.NoError(t, err)
	return out
}

// helmRecord is one entry of `helm list -o json` or `helm history -o json`.
type helmRecord struct {
	Name        string `json:"name"`
	Revision    any    `json:"revision"`
	Status      string `json:"status"`
	Chart       string `json:"chart"`
	Description string `json:"description"`
}

func helmJSON(t *testing.T, member string, args ...string) []helmRecord {
	t.Helper()
	var out []helmRecord
	require.NoError(t, json.Unmarshal([]byte(helmOnMember(t, member, append(args, "-o", "json")...)), &out))
	return out
}
