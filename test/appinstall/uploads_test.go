package appinstall

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/test/framework"
)

// An uploaded chart, once reviewed and Active, installs like any other: on a Direct and an
// Agent member, as the developer, from the archive stored on the host.
func TestInstallUploadedChart(t *testing.T) {
	ctx := context.Background()
	syncedRepo(t, "uploads", map[string]any{"source": "Upload"})
	const name = "uploads.greeter.1.0.0"
	framework.Kubectl(t, env, "host", `{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ApplicationVersion",
  "metadata": {"name": "`+name+`"}, "spec": {"chart": "greeter", "version": "1.0.0"}}`, "create", "-f", "-")
	archive := filepath.Join(t.TempDir(), "greeter.tgz")
	require.NoError(t, os.WriteFile(archive, framework.ChartArchive(t, "greeter", "1.0.0", 0), 0o600))
	api := "/apis/appstore.kubesphere.io/v1alpha1/applicationversions/" + name
	framework.Kubectl(t, env, "host", "", "replace", "--raw", api+"/chart", "-f", archive)
	for _, step := range []string{"submit", "pass", "activate"} {
		framework.Kubectl(t, env, "host", `{"apiVersion": "appstore.kubesphere.io/v1alpha1", "kind": "ReviewRequest"}`,
			"create", "--raw", api+"/"+step, "-f", "-")
	}

	dev := asDeveloper(t)
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	_, err := env.KubectlAs(ctx, dev, "", release("greeter", "uploads.greeter", "1.0.0", "default", map[string]any{"greeting": "uploaded"}, members...),
		"create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "greeter", "--ignore-not-found")
	})
	r := waitRelease(t, "greeter", 3*time.Minute, deployed)
	for _, m := range members {
		e := entry(t, r, m)
		assert.Equal(t, v1alpha1.ReleasePhaseDeployed, e.Phase, m)
		assert.Equal(t, "1.0.0", e.ChartVersion, m)
		assert.Equal(t, "uploaded", framework.Kubectl(t, env, m, "", "get", "configmap", "greeter-greeting", "-n", "default",
			"-o", "jsonpath={.data.greeting}"), m)
		list := helmJSON(t, m, "list", "-n", "default")
		require.Len(t, list, 1, m)
		assert.Equal(t, "greeter-1.0.0", list[0].Chart, m)
	}
	framework.Kubectl(t, env, "host", "", "delete", "applicationrelease", "greeter", "--timeout=2m")
	for _, m := range members {
		assert.Empty(t, helmJSON(t, m, "list", "-n", "default"), m)
	}
}
