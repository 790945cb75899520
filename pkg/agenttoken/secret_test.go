package agenttoken

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
)

// What join writes is what every reader accepts, for its cluster and with the token's hash.
func TestNewSecretRoundTrip(t *testing.T) {
	token, err := New()
	require.NoError(t, err)
	s := NewSecret("kubesphere-system", "member1", token)
	assert.Equal(t, "member1-agent-token", s.Name)
	assert.Equal(t, "kubesphere-system", s.Namespace)
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/managed-by":       "kubectl-ksmc",
		"clusters.kubesphere.io/cluster":     "member1",
		"clusters.kubesphere.io/agent-token": "true",
	}, s.Labels)
	assert.Equal(t, corev1.SecretTypeOpaque, s.Type)

	cluster, hash, ok := HashOf(s)
	require.True(t, ok)
	assert.Equal(t, "member1", cluster)
	assert.True(t, Matches(hash, token))
	assert.Equal(t, "member1", ClusterOf(s.Name))
}

// HashOf is the one test of a token Secret: the label (any value, as LabelSelector
// selects), a name for a cluster, and a hash.
func TestHashOfRefusesWhatIsNotATokenSecret(t *testing.T) {
	valid := func() *corev1.Secret { return NewSecret("ns", "member1", "t") }
	for name, tc := range map[string]struct {
		edit func(*corev1.Secret)
		ok   bool
	}{
		"valid":           {func(*corev1.Secret) {}, true},
		"empty label":     {func(s *corev1.Secret) { s.Labels[clustersapi.AgentTokenLabel] = "" }, true},
		"no label":        {func(s *corev1.Secret) { delete(s.Labels, clustersapi.AgentTokenLabel) }, false},
		"no labels":       {func(s *corev1.Secret) { s.Labels = nil }, false},
		"other name":      {func(s *corev1.Secret) { s.Name = "member1-credentials" }, false},
		"not a cluster":   {func(s *corev1.Secret) { s.Name = "a.b-agent-token" }, false},
		"no hash":         {func(s *corev1.Secret) { delete(s.Data, HashKey) }, false},
		"empty hash":      {func(s *corev1.Secret) { s.Data[HashKey] = nil }, false},
		"hash in another": {func(s *corev1.Secret) { s.Data = map[string][]byte{"token": s.Data[HashKey]} }, false},
	} {
		s := valid()
		tc.edit(s)
		_, _, ok := HashOf(s)
		assert.Equal(t, tc.ok, ok, name)
	}
	_, _, ok := HashOf(nil)
	assert.False(t, ok, "nil")
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	token := NewSecret("kubesphere-system", "member1", "t")
	token.UID = types.UID("uid-1")
	unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName("member2"), Namespace: "kubesphere-system"}}
	host := kfake.NewSimpleClientset(token, unlabelled)
	var preconditions []*metav1.Preconditions
	host.PrependReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		preconditions = append(preconditions, a.(k8stesting.DeleteAction).GetDeleteOptions().Preconditions)
		return false, nil, nil
	})

	deleted, err := Revoke(ctx, host, "kubesphere-system", "member1")
	require.NoError(t, err)
	assert.True(t, deleted)
	_, err = host.CoreV1().Secrets("kubesphere-system").Get(ctx, token.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the token Secret is gone: %v", err)
	require.Len(t, preconditions, 1)
	require.NotNil(t, preconditions[0].UID)
	assert.Equal(t, token.UID, *preconditions[0].UID, "only the Secret that was read is deleted")

	deleted, err = Revoke(ctx, host, "kubesphere-system", "member1")
	require.NoError(t, err, "revoking again succeeds")
	assert.False(t, deleted)

	deleted, err = Revoke(ctx, host, "kubesphere-system", "member2")
	require.NoError(t, err)
	assert.False(t, deleted, "a Secret without the label is not a token Secret")
	_, err = host.CoreV1().Secrets("kubesphere-system").Get(ctx, unlabelled.Name, metav1.GetOptions{})
	assert.NoError(t, err, "and stays")
}
