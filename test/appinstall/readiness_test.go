package appinstall

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/test/framework"
)

// Status follows the member between operations: a Deployment of the release that can no
// longer roll out shows as not ready (and the release not Ready) without any Helm call,
// and ready again once fixed on the member, on a Direct and an Agent member.
func TestReadinessFollowsTheMember(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "ready")
	dev := asDeveloper(t)
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	_, err := env.KubectlAs(ctx, dev, "", release("watched", "ready.hello", "0.1.0", "default", nil, members...), "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "watched", "--ignore-not-found")
	})
	r := waitRelease(t, "watched", 3*time.Minute, deployed)
	revision := entry(t, r, "member1").Revision

	readyOn := func(cluster string, ready int32) func(v1alpha1.ApplicationRelease, bool) bool {
		return func(r v1alpha1.ApplicationRelease, found bool) bool {
			for _, e := range r.Status.Clusters {
				if e.Cluster == cluster {
					return found && e.ReadyResources == ready && e.TotalResources == 3
				}
			}
			return false
		}
	}
	for _, m := range members {
		// The member's admin pins the pods to a node that does not exist: the rollout
		// cannot finish.
		framework.Kubectl(t, env, m, "", "patch", "deployment", "watched-hello", "-n", "default", "--type=merge",
			"-p", `{"spec":{"template":{"spec":{"nodeSelector":{"kubesphere.io/no-such-node":"true"}}}}}`)
		r = waitRelease(t, "watched", time.Minute, readyOn(m, 2))
		e := entry(t, r, m)
		assert.Equal(t, v1alpha1.ReleasePhaseDeployed, e.Phase, "%s: Helm's revision is still deployed", m)
		assert.Equal(t, revision, e.Revision, "%s: no Helm operation ran", m)
		c := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ReleaseReady)
		require.NotNil(t, c)
		assert.Equal(t, "False", string(c.Status), m)
		assert.Contains(t, c.Message, fmt.Sprintf("%s: 2/3 resources ready", m))
		assert.Regexp(t, `watched\s+ready\.hello\s+0\.1\.0\s+2/2\s+False`, framework.Kubectl(t, env, "host", "", "get", "applicationreleases", "watched"))

		framework.Kubectl(t, env, m, "", "patch", "deployment", "watched-hello", "-n", "default", "--type=json",
			"-p", `[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]`)
		waitRelease(t, "watched", time.Minute, readyOn(m, 3))
	}
	r = waitRelease(t, "watched", time.Minute, deployed)
	for _, m := range members {
		assert.Equal(t, revision, entry(t, r, m).Revision, m)
	}
}
