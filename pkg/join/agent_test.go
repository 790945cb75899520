package join

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The agent's Deployment names the tower proxies with the flags tower agent documents, and
// runs as many Go threads as its CPU limit gives (one), as the host's components do.
func TestAgentManifestsDeployment(t *testing.T) {
	var deploy *appsv1.Deployment
	for _, o := range AgentManifests("store-42", "token", []string{"https://a:8443", "https://b:8443"}, []byte("ca"), "tower:v1") {
		if d, ok := o.(*appsv1.Deployment); ok {
			deploy = d
		}
	}
	require.NotNil(t, deploy, "a Deployment among the manifests")
	c := deploy.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"agent", "--cluster-name=store-42", "--tower-proxy-servers=https://a:8443,https://b:8443",
		"--tower-proxy-ca-file=/etc/tower/ca.crt", "--token-file=/etc/tower/token", "--health-bind-address=:8081"}, c.Args)
	require.Len(t, c.Env, 1)
	assert.Equal(t, "GOMAXPROCS", c.Env[0].Name)
	ref := c.Env[0].ValueFrom.ResourceFieldRef
	require.NotNil(t, ref, "GOMAXPROCS from a resource field")
	assert.Equal(t, "limits.cpu", ref.Resource)
	assert.Equal(t, "1", ref.Divisor.String())
	limit := c.Resources.Limits[corev1.ResourceCPU]
	assert.Equal(t, "500m", limit.String(), "a limit under one core: the kubelet rounds it up to 1")
}
