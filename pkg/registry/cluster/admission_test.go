package cluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/clusters"
)

// rights allows exactly the listed "verb resource name" triples.
type rights map[string]bool

func (r rights) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if r[a.GetVerb()+" "+a.GetResource()+" "+a.GetName()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionDeny, "not in the test's rights", nil
}

func directTo(name, endpoint, secret string) *clusters.Cluster {
	return &clusters.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: clusters.ClusterSpec{Connection: clusters.Connection{
		Type: clusters.ConnectionDirect, KubernetesAPIEndpoint: endpoint,
		CredentialsSecretRef: &clusters.SecretReference{Namespace: "kubesphere-system", Name: secret}}}}
}

func TestGuard(t *testing.T) {
	member1 := directTo("member1", "https://127.0.0.1:26443", "member1-credentials")
	host := directTo("host", "https://127.0.0.1:16443", "host-credentials")
	host.Labels = map[string]string{clusters.HostClusterLabel: ""}
	stored := []clusters.Cluster{*member1, *host}
	guard := func(r rights) Guard {
		return Guard{Authorizer: r, list: func(context.Context) ([]clusters.Cluster, error) { return stored, nil }}
	}
	ctx := request.WithUser(context.Background(), &user.DefaultInfo{Name: "operator"})
	editor := rights{"get secrets borrow-credentials": true, "get secrets member1-credentials": false}

	// Borrowing: naming a Secret one may not read.
	borrow := directTo("borrow", "https://127.0.0.1:26443", "member1-credentials")
	err := guard(editor).admit(ctx, borrow, nil)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Contains(t, err.Error(), `user "operator" may not get secrets "member1-credentials" in namespace "kubesphere-system"`)

	// Leaking: sending member1's credentials to another endpoint, without the right to read them.
	moved := member1.DeepCopy()
	moved.Spec.Connection.KubernetesAPIEndpoint = "https://127.0.0.1:9"
	err = guard(editor).admit(ctx, moved, member1)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	relabelled := member1.DeepCopy()
	relabelled.Spec.Provider = "aws"
	require.NoError(t, guard(editor).admit(ctx, relabelled, member1), "edits that do not touch the connection need no Secret right")

	// One Secret, one Cluster, even for who may read it.
	reader := rights{"get secrets member1-credentials": true}
	err = guard(reader).admit(ctx, borrow, nil)
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), `Secret kubesphere-system/member1-credentials already backs Cluster "member1"`)
	require.NoError(t, guard(rights{"get secrets borrow-credentials": true}).admit(ctx, directTo("borrow", "https://127.0.0.1:26443", "borrow-credentials"), nil))

	// Clusters that already share a Secret (made before these checks) can still be changed
	// where nothing guarded moves: their finalizers can go, so they can be deleted.
	sharing := directTo("older", "https://127.0.0.1:26443", "member1-credentials")
	released := sharing.DeepCopy()
	released.Finalizers = nil
	sharing.Finalizers = []string{"clusters.kubesphere.io/cleanup"}
	require.NoError(t, guard(rights{}).admit(ctx, released, sharing))
	require.NoError(t, Guard{list: guard(rights{}).list}.admit(ctx, released, sharing), "no decision needed, none asked")
	assert.True(t, apierrors.IsForbidden(Guard{list: guard(rights{}).list}.admit(ctx, borrow, nil)), "no authorizer refuses what needs one")

	// The host label: its own verb, and one host.
	claim := member1.DeepCopy()
	claim.Labels = map[string]string{clusters.HostClusterLabel: "true"}
	err = guard(reader).admit(ctx, claim, member1)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Contains(t, err.Error(), `needs the verb "designate-host" on clusters "member1"`)
	err = guard(rights{"designate-host clusters member1": true}).admit(ctx, claim, member1)
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), `Cluster "host" is already the host`)
	unhost := host.DeepCopy()
	unhost.Labels = nil
	assert.True(t, apierrors.IsForbidden(guard(rights{"get secrets host-credentials": true}).admit(ctx, unhost, host)), "removing it needs the verb too")
	require.NoError(t, guard(rights{"designate-host clusters host": true}).admit(ctx, unhost, host))
}
