package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	appstorev1alpha1 "kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// The App Store's group is served on the host through its own APIService, with Repos
// that kubectl creates, defaults, validates and prints like any resource.
func TestAppStoreRepos(t *testing.T) {
	out := framework.Kubectl(t, env, "host", "", "get", "apiservice", localenv.AppStoreAPIServiceName,
		"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
	assert.Equal(t, "True", out)
	resources := framework.Kubectl(t, env, "host", "", "api-resources", "--api-group=appstore.kubesphere.io")
	assert.Contains(t, resources, "repos")

	framework.Kubectl(t, env, "host", `
apiVersion: appstore.kubesphere.io/v1alpha1
kind: Repo
metadata: {name: it-charts}
spec: {url: "https://127.0.0.1:9/charts"}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", "it-charts", "--ignore-not-found")
	})
	var repo appstorev1alpha1.Repo
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "repo", "it-charts", "-o", "json")), &repo))
	assert.Equal(t, appstorev1alpha1.RepoSourceIndex, repo.Spec.Source, "the source follows from the URL")
	require.NotNil(t, repo.Spec.SyncInterval)
	assert.Equal(t, time.Hour, repo.Spec.SyncInterval.Duration, "synced hourly by default")
	require.NotNil(t, repo.Spec.MaxIndexSize)
	assert.Equal(t, "50Mi", repo.Spec.MaxIndexSize.String())

	table := framework.Kubectl(t, env, "host", "", "get", "repos", "it-charts", "-o", "wide")
	assert.Regexp(t, `NAME\s+SOURCE\s+SYNCED\s+CHARTS\s+VERSIONS\s+AGE\s+URL\s+REASON`, table)
	// Nothing listens on port 9: not synced yet (Unknown) or already found unreachable.
	assert.Regexp(t, `it-charts\s+Index\s+(Unknown|False)\s+`, table)

	// A status sent with the object is not the writer's to set.
	framework.Kubectl(t, env, "host", "", "patch", "repo", "it-charts", "--type=merge", "-p", `{"status":{"chartCount":5}}`)
	assert.Equal(t, "", framework.Kubectl(t, env, "host", "", "get", "repo", "it-charts", "-o", "jsonpath={.status.chartCount}"))

	for name, c := range map[string]struct{ manifest, want string }{
		"plain http": {`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"bad"},"spec":{"url":"http://127.0.0.1:9/charts"}}`,
			"spec.url: Invalid value"},
		"a sync every minute": {`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"bad"},"spec":{"url":"https://127.0.0.1:9/c","syncInterval":"1m"}}`,
			"spec.syncInterval"},
		"OCI without charts": {`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"bad"},"spec":{"url":"oci://127.0.0.1:9/charts"}}`,
			"spec.charts: Required value"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := framework.TryKubectl(t, env, "host", c.manifest, "create", "-f", "-")
			require.Error(t, err, out)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// cluster-apiserver --app-store=false serves no trace of the group, and the install
// without the App Store registers no APIService for it.
func TestAppStoreDisabled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, err := env.StartExtraClusterAPIServer(ctx, "no-app-store", framework.FreePort(t),
		"--embedded-etcd-data-dir="+t.TempDir(), "--app-store=false")
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop("host-no-app-store") })

	dc, err := discovery.NewDiscoveryClientForConfig(framework.AdminRESTConfig(t, env, url))
	require.NoError(t, err)
	groups, err := dc.ServerGroups()
	require.NoError(t, err)
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	assert.Contains(t, names, "clusters.kubesphere.io")
	assert.NotContains(t, names, "appstore.kubesphere.io")
	_, err = dc.ServerResourcesForGroupVersion("appstore.kubesphere.io/v1alpha1")
	assert.True(t, apierrors.IsNotFound(err), "the group's resources: %v", err)

	built := kustomize(t, "overlays/no-app-store")
	assert.Equal(t, 2, strings.Count(built, "kind: APIService"), "APIServices for clusters.kubesphere.io and federation.kubesphere.io")
	assert.Contains(t, built, "v1alpha1.clusters.kubesphere.io")
	assert.NotContains(t, built, "v1alpha1.appstore.kubesphere.io")
	assert.Contains(t, clusterAPIServerStatefulSet(t, built).Spec.Template.Spec.Containers[0].Args, "--app-store=false")
}
