package appinstall

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

var members = []string{"member1", "member2"} // member2 joined by agent

// The developer installs a chart of the HTTPS repository, and one of the OCI registry, on
// a Direct and an Agent member, upgrades it and deletes it; each cluster's Helm records,
// seen with the helm CLI on the member, agree with status and name the developer; nothing
// but the chart's objects and Helm's records is made on the members.
func TestInstallUpgradeUninstall(t *testing.T) {
	indexRepo(t, "charts")
	ociRepo(t, "oci")
	for _, repo := range []string{"charts", "oci"} {
		t.Run(repo, func(t *testing.T) { installUpgradeUninstall(t, repo) })
	}
}

func installUpgradeUninstall(t *testing.T, repo string) {
	ctx := context.Background()
	dev := asDeveloper(t)
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }

	_, err := asDev(release("hello", repo+".hello", "0.1.0", "default", map[string]any{"message": "hi"}, members...), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "hello", "--ignore-not-found")
	})
	r := waitRelease(t, "hello", 3*time.Minute, deployed)
	for _, m := range members {
		e := entry(t, r, m)
		assert.Equal(t, v1alpha1.ReleasePhaseDeployed, e.Phase, m)
		assert.EqualValues(t, 1, e.Revision, m)
		assert.EqualValues(t, 1, e.AppliedGeneration, m)
		assert.Equal(t, "0.1.0", e.ChartVersion, m)
		assert.EqualValues(t, 3, e.TotalResources, "%s: ConfigMap, Deployment, Service", m)
		assert.Equal(t, e.TotalResources, e.ReadyResources, m)
		require.Len(t, e.Revisions, 1, m)
		assert.Equal(t, localenv.DeveloperUser, e.Revisions[0].User, m)
		assert.Equal(t, v1alpha1.RevisionActionInstall, e.Revisions[0].Action, m)

		list := helmJSON(t, m, "list", "-n", "default")
		require.Len(t, list, 1, "%s: helm list", m)
		assert.Equal(t, "hello", list[0].Name)
		assert.Equal(t, "deployed", list[0].Status)
		assert.Equal(t, "hello-0.1.0", list[0].Chart)
		history := helmJSON(t, m, "history", "hello", "-n", "default")
		require.Len(t, history, 1, "%s: helm history", m)
		assert.Equal(t, "appstore: install by developer (generation 1)", history[0].Description, m)

		// The chart's objects, applied by the App Store's field manager, with the values.
		assert.Equal(t, "hi", framework.Kubectl(t, env, m, "", "get", "configmap", "hello-hello", "-n", "default", "-o", "jsonpath={.data.message}"))
		assert.Contains(t, framework.Kubectl(t, env, m, "", "get", "configmap", "hello-hello", "-n", "default", "--show-managed-fields",
			"-o", "jsonpath={.metadata.managedFields[*].manager}"), "kubesphere-appstore")
		// And nothing of the App Store's own: no Job, no ServiceAccount beyond default, no
		// Secret but Helm's release record.
		assert.Empty(t, strings.TrimSpace(framework.Kubectl(t, env, m, "", "get", "jobs", "-A", "-o", "name")), m)
		assert.Equal(t, "serviceaccount/default", strings.TrimSpace(framework.Kubectl(t, env, m, "", "get", "serviceaccounts", "-n", "default", "-o", "name")), m)
		assert.Equal(t, "secret/sh.helm.release.v1.hello.v1", strings.TrimSpace(framework.Kubectl(t, env, m, "", "get", "secrets", "-n", "default", "-o", "name")), m)
	}

	// Upgrade: a new version and new values make revision 2 everywhere.
	_, err = asDev("", "patch", "applicationrelease", "hello", "--type=merge", "-p", `{"spec":{"version":"0.2.0","values":{"message":"hello again"}}}`)
	require.NoError(t, err)
	r = waitRelease(t, "hello", 3*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool {
		return r.Generation == 2 && deployed(r, found)
	})
	for _, m := range members {
		e := entry(t, r, m)
		assert.EqualValues(t, 2, e.Revision, m)
		assert.Equal(t, "0.2.0", e.ChartVersion, m)
		require.Len(t, e.Revisions, 2, m)
		assert.Equal(t, v1alpha1.RevisionActionUpgrade, e.Revisions[1].Action, m)
		assert.Equal(t, "superseded", e.Revisions[0].Result, m)
		history := helmJSON(t, m, "history", "hello", "-n", "default")
		require.Len(t, history, 2, "%s: helm history", m)
		assert.Equal(t, "appstore: upgrade by developer (generation 2)", history[1].Description, m)
		assert.Equal(t, "hello again", framework.Kubectl(t, env, m, "", "get", "configmap", "hello-hello", "-n", "default", "-o", "jsonpath={.data.message}"))
	}

	// Values removed: the chart's own, not the last revision's.
	_, err = asDev("", "patch", "applicationrelease", "hello", "--type=merge", "-p", `{"spec":{"values":null}}`)
	require.NoError(t, err)
	waitRelease(t, "hello", 3*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool {
		return r.Generation == 3 && deployed(r, found)
	})
	for _, m := range members {
		assert.Equal(t, "Hello from hello 0.2.0", framework.Kubectl(t, env, m, "", "get", "configmap", "hello-hello", "-n", "default", "-o", "jsonpath={.data.message}"), m)
	}

	// Delete: uninstalled from every cluster as the deleter, then the object goes.
	_, err = asDev("", "delete", "applicationrelease", "hello", "--wait=false")
	require.NoError(t, err)
	waitRelease(t, "hello", 3*time.Minute, func(_ v1alpha1.ApplicationRelease, found bool) bool { return !found })
	for _, m := range members {
		assert.Empty(t, helmJSON(t, m, "list", "-n", "default"), "%s: helm list after delete", m)
		_, err := framework.TryKubectl(t, env, m, "", "get", "configmap", "hello-hello", "-n", "default")
		assert.ErrorContains(t, err, "NotFound", m)
	}
}

// A chart the user may not install on a member (a ClusterRole, where the developer may
// only edit one namespace) fails there with Forbidden, naming what was refused, leaves
// nothing installed, and is retried with backoff, not in a loop.
func TestForbiddenOnTheMember(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "forbidden")
	dev := asDeveloper(t)
	_, err := env.KubectlAs(ctx, dev, "", release("cw", "forbidden.clusterwide", "0.1.0", "default", nil, "member1"), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "cw", "--wait=false", "--ignore-not-found")
		_, _ = framework.TryKubectl(t, env, "host", "", "patch", "applicationrelease", "cw", "--type=merge", "-p", `{"metadata":{"annotations":{"appstore.kubesphere.io/orphan":"true"}}}`)
	})
	r := waitRelease(t, "cw", 2*time.Minute, func(r v1alpha1.ApplicationRelease, _ bool) bool {
		for _, e := range r.Status.Clusters {
			if e.Cluster == "member1" && e.Phase == v1alpha1.ReleasePhaseFailed {
				return true
			}
		}
		return false
	})
	e := entry(t, r, "member1")
	assert.Equal(t, "Forbidden", e.Reason, e.Message)
	assert.Contains(t, e.Message, "clusterroles")
	assert.Contains(t, e.Message, fmt.Sprintf("%q", localenv.DeveloperUser), "the member judged the developer, not the controller")
	assert.GreaterOrEqual(t, e.Attempts, int32(1))
	require.NotNil(t, e.NextAttemptTime, "a failure is retried later")
	assert.True(t, e.NextAttemptTime.After(time.Now()))
	assert.Empty(t, helmJSON(t, "member1", "list", "-n", "default"), "nothing half-installed: no release record in any status")
	_, err = framework.TryKubectl(t, env, "member1", "", "get", "clusterrole", "cw-clusterwide-reader")
	assert.ErrorContains(t, err, "NotFound")
}
