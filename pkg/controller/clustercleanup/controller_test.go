package clustercleanup

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kfake "k8s.io/client-go/kubernetes/fake"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned/fake"
	"kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

func cluster(name, secret string) *v1alpha1.Cluster {
	return &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{
		Type: v1alpha1.ConnectionDirect, CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: secret}}}}
}

func secret(name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kubesphere-system", Labels: labels}}
}

// deleteAndSync marks the Cluster deleted (as the API server does when it has
// finalizers) and runs one sync.
func deleteAndSync(t *testing.T, c *Controller, client *fake.Clientset, index func(*v1alpha1.Cluster), name string) {
	t.Helper()
	ctx := context.Background()
	got, err := client.ClustersV1alpha1().Clusters().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	now := metav1.Now()
	got.DeletionTimestamp = &now
	_, err = client.ClustersV1alpha1().Clusters().Update(ctx, got, metav1.UpdateOptions{})
	require.NoError(t, err)
	index(got)
	require.NoError(t, c.sync(ctx, name))
	after, err := client.ClustersV1alpha1().Clusters().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, after.Finalizers, clustersapi.CleanupFinalizer, "the finalizer is released")
}

func TestFinalizerAndCleanup(t *testing.T) {
	ctx := context.Background()
	joined, shared := cluster("joined", "joined-credentials"), cluster("own", "shared")
	agent := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionAgent}}}
	client := fake.NewSimpleClientset(joined, shared, agent)
	host := kfake.NewSimpleClientset(
		secret("joined-credentials", map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy, clustersapi.ClusterLabel: "joined"}),
		secret("shared", nil),
		secret(agenttoken.SecretName("agent"), map[string]string{clustersapi.AgentTokenLabel: "true"}))
	informer := externalversions.NewSharedInformerFactory(client, 0).Clusters().V1alpha1().Clusters()
	c, err := New(client, host, "kubesphere-system", informer)
	require.NoError(t, err)
	index := func(cl *v1alpha1.Cluster) { require.NoError(t, informer.Informer().GetIndexer().Update(cl)) }

	for _, cl := range []*v1alpha1.Cluster{joined, shared, agent} {
		index(cl)
		require.NoError(t, c.sync(ctx, cl.Name))
		got, err := client.ClustersV1alpha1().Clusters().Get(ctx, cl.Name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, []string{clustersapi.CleanupFinalizer}, got.Finalizers)
		index(got)
		assert.False(t, needsWork(got), "nothing more to do for a live Cluster with the finalizer")
	}

	deleteAndSync(t, c, client, index, "joined")
	_, err = host.CoreV1().Secrets("kubesphere-system").Get(ctx, "joined-credentials", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the Secret join made is deleted with its Cluster: %v", err)

	deleteAndSync(t, c, client, index, "own")
	_, err = host.CoreV1().Secrets("kubesphere-system").Get(ctx, "shared", metav1.GetOptions{})
	assert.NoError(t, err, "a Secret join did not make stays")

	deleteAndSync(t, c, client, index, "agent")
	_, err = host.CoreV1().Secrets("kubesphere-system").Get(ctx, agenttoken.SecretName("agent"), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "deleting an Agent cluster revokes its token: %v", err)
}
