package appstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/test/framework"
)

// A synced Repo's charts are Applications and ApplicationVersions that kubectl lists,
// selects and prints; they go with the Repo.
func TestApplicationsOfASyncedRepo(t *testing.T) {
	repo(t, "views", env.ChartRepoURL(), map[string]any{"caBundle": caBundle(t)})
	_, c := syncedCondition(t, "views")
	require.Equal(t, metav1.ConditionTrue, c.Status, c.Message)

	apps := framework.Kubectl(t, env, "host", "", "get", "applications", "-l", "appstore.kubesphere.io/repo=views")
	assert.Regexp(t, `NAME\s+REPO\s+LATEST\s+DESCRIPTION\s+AGE`, apps)
	assert.Regexp(t, `views\.hello\s+views\s+0\.2\.0\s+`, apps)
	assert.Contains(t, apps, "views.clusterwide")
	assert.Contains(t, apps, "views.hello-fail")

	var versions v1alpha1.ApplicationVersionList
	require.NoError(t, json.Unmarshal([]byte(framework.Kubectl(t, env, "host", "", "get", "applicationversions",
		"--field-selector", "spec.application=views.hello", "-o", "json")), &versions))
	require.Len(t, versions.Items, 2)
	names := []string{versions.Items[0].Name, versions.Items[1].Name}
	assert.ElementsMatch(t, []string{"views.hello.0.1.0", "views.hello.0.2.0"}, names)
	for _, v := range versions.Items {
		assert.Equal(t, v1alpha1.AppStateActive, v.Status.State, v.Name)
		assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, v.Spec.Digest, v.Name)
		assert.NotEmpty(t, v.Spec.ChartURLs, v.Name)
	}
	_, err := framework.TryKubectl(t, env, "host", "", "get", "application", "views.nothing")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NotFound")

	framework.Kubectl(t, env, "host", "", "delete", "repo", "views")
	require.Eventually(t, func() bool {
		out := framework.Kubectl(t, env, "host", "", "get", "applications", "-l", "appstore.kubesphere.io/repo=views", "-o", "name")
		return out == ""
	}, 30*time.Second, 250*time.Millisecond, "the Repo's applications go with it")
}
