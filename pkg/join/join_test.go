package join

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned/fake"
)

func TestCheckNew(t *testing.T) {
	existing := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member1"}, Status: v1alpha1.ClusterStatus{UID: "uid-1"}}
	clusters := fake.NewSimpleClientset(existing)
	ctx := context.Background()

	assert.NoError(t, checkNew(ctx, clusters, "member2", "uid-2"))
	assert.ErrorContains(t, checkNew(ctx, clusters, "member1", "uid-2"), `the name "member1" is taken`)
	assert.ErrorContains(t, checkNew(ctx, clusters, "other", "uid-1"), `already joined as Cluster "member1"`)
	// The same member under its own name is "already joined", not "name taken".
	assert.ErrorContains(t, checkNew(ctx, clusters, "member1", "uid-1"), "already joined")
	// A member not read (join by agent without its kubeconfig) clashes by name only, even
	// with a Cluster not probed yet.
	unprobed := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "new"}}
	assert.NoError(t, checkNew(ctx, fake.NewSimpleClientset(unprobed), "member9", ""))
}

func TestOneHost(t *testing.T) {
	ctx := context.Background()
	member := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member1"}}
	assert.NoError(t, checkNoHost(ctx, fake.NewSimpleClientset(member)))
	host := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "host", Labels: map[string]string{clustersapi.HostClusterLabel: ""}}}
	assert.ErrorContains(t, checkNoHost(ctx, fake.NewSimpleClientset(member, host)), `Cluster "host" is already the host`)
}

func TestCredentialKubeconfigHoldsOnlyTheToken(t *testing.T) {
	raw, err := credentialKubeconfig("m", "https://127.0.0.1:6443", []byte("CA"), []byte("tok"))
	require.NoError(t, err)
	cfg, err := clientcmd.Load(raw)
	require.NoError(t, err)
	require.Len(t, cfg.AuthInfos, 1)
	for _, a := range cfg.AuthInfos {
		assert.Equal(t, "tok", a.Token)
		assert.Empty(t, a.ClientCertificateData)
		assert.Empty(t, a.ClientKeyData)
		assert.Empty(t, a.Impersonate)
		assert.Nil(t, a.Exec)
	}
	assert.Equal(t, "https://127.0.0.1:6443", cfg.Clusters["m"].Server)
	assert.Equal(t, []byte("CA"), cfg.Clusters["m"].CertificateAuthorityData)
}

func TestProxyClusterRoleIsLeastPrivilege(t *testing.T) {
	for _, rule := range ProxyClusterRole().Rules {
		for _, verb := range rule.Verbs {
			assert.Contains(t, []string{"impersonate", "get", "list", "watch"}, verb, "rule %v", rule)
		}
		if rule.Verbs[0] != "impersonate" {
			assert.ElementsMatch(t, []string{"namespaces", "nodes"}, rule.Resources, "only namespaces and nodes are read")
		}
	}
}

func TestJoinRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	assert.ErrorContains(t, Join(ctx, Options{Name: "Not_A_Label"}), "invalid cluster name")
	assert.ErrorContains(t, Join(ctx, Options{Name: "ok"}), "required")
}
