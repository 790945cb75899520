package federation

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/test/framework"
)

// A multi-cluster project from plain manifests: kubectl ksmc federate wraps a ConfigMap and
// a Deployment of namespace proj with --namespace-placement and applies them as the user;
// the Namespace is placed on both members, the two objects follow its placement there, and
// taking member2 out of the namespace's placement takes the objects out too.
func TestProjectFromManifests(t *testing.T) {
	ctx := context.Background()
	const admin = "project-admin"
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "federation-project-admin", "--clusterrole=cluster-admin", "--user="+admin)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding", "federation-project-admin")
	})
	for _, m := range members {
		framework.Kubectl(t, env, m, "", "create", "clusterrolebinding", "federation-project-admin", "--clusterrole=cluster-admin", "--user="+admin)
		t.Cleanup(func() {
			_, _ = framework.TryKubectl(t, env, m, "", "delete", "clusterrolebinding", "federation-project-admin")
		})
	}
	framework.Kubectl(t, env, "host", "", "create", "namespace", "proj")
	kubeconfig := framework.UserKubeconfig(t, env, env.HostURL(), admin)
	t.Cleanup(func() {
		for _, name := range []string{"configmap-settings", "deployment-api"} {
			_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", name, "-n", "proj", "--ignore-not-found", "--timeout=60s")
		}
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "cfo", "namespace-proj", "--ignore-not-found", "--timeout=60s")
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "namespace", "proj", "--wait=false")
	})

	manifests := `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: proj}
data: {mode: blue}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: proj}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api:1}]}
`
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl-ksmc"), "federate", "-f", "-", "--clusters", "member1,member2",
		"--namespace-placement", "--apply", "--host-kubeconfig", kubeconfig)
	cmd.Stdin = strings.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "clusterfederatedobject.federation.kubesphere.io/namespace-proj applied")
	assert.Contains(t, string(out), "federatedobject.federation.kubesphere.io/deployment-api applied")

	for _, name := range []string{"configmap-settings", "deployment-api"} {
		fo := waitFO(t, "proj", name, readyEverywhere)
		assert.Nil(t, fo.Spec.Placement, "%s follows its namespace", name)
		assert.Len(t, fo.Status.Clusters, 2, name)
	}
	for _, m := range members {
		assert.Equal(t, "blue", onMember(t, m, "{.data.mode}", "get", "configmap", "settings", "-n", "proj"), m)
		assert.Equal(t, "1", onMember(t, m, "{.status.readyReplicas}", "get", "deployment", "api", "-n", "proj"), m)
	}

	// The project leaves member2: its objects there are deleted with it.
	framework.Kubectl(t, env, "host", "", "patch", "cfo", "namespace-proj", "--type=merge", "--as="+admin,
		"-p", `{"spec":{"placement":{"clusters":["member1"]}}}`)
	waitFO(t, "proj", "deployment-api", func(fo v1alpha1.FederatedObject, found bool) bool {
		_, on2 := row(fo, "member2")
		return readyEverywhere(fo, found) && !on2
	})
	_, err = framework.TryKubectl(t, env, "member2", "", "get", "deployment", "api", "-n", "proj")
	assert.ErrorContains(t, err, "NotFound")
}
