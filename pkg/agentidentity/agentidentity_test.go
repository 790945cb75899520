package agentidentity

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

func TestJoinTokenIsItsClustersAgent(t *testing.T) {
	token, err := agenttoken.New()
	require.NoError(t, err)
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Secret{}, 0, cache.Indexers{})
	require.NoError(t, IndexTokens(informer))
	require.NoError(t, informer.GetIndexer().Add(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: agenttoken.SecretName("member2"), Namespace: "kubesphere-system", Labels: map[string]string{clustersapi.AgentTokenLabel: "true"}},
		Data:       map[string][]byte{agenttoken.HashKey: []byte(agenttoken.Hash(token))},
	}))
	// The same hash in a Secret that is not a token Secret counts for nothing.
	require.NoError(t, informer.GetIndexer().Add(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "unlabelled-agent-token", Namespace: "kubesphere-system"},
		Data:       map[string][]byte{agenttoken.HashKey: []byte(agenttoken.Hash("x"))},
	}))
	a := Authenticator{Index: informer.GetIndexer()}

	resp, ok, err := a.AuthenticateToken(context.Background(), token)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "system:kubesphere:agent:member2", resp.User.GetName())
	assert.ElementsMatch(t, []string{clustersapi.AgentsGroup, user.AllAuthenticated}, resp.User.GetGroups())
	cluster, ok := ClusterOf(resp.User)
	assert.True(t, ok)
	assert.Equal(t, "member2", cluster)

	other, _ := agenttoken.New()
	for _, tok := range []string{other, "x", "eyJhbGciOiJSUzI1NiJ9.a-service-account-token.sig"} {
		_, ok, err := a.AuthenticateToken(context.Background(), tok)
		assert.False(t, ok, tok)
		assert.NoError(t, err, "other tokens are left to the next authenticator")
	}
	// A user who merely calls itself an agent is not one without the group.
	_, ok = ClusterOf(&user.DefaultInfo{Name: "system:kubesphere:agent:member1"})
	assert.False(t, ok)
}

func TestAgentSeesOnlyItsOwnCluster(t *testing.T) {
	agent := &user.DefaultInfo{Name: clustersapi.AgentUserPrefix + "member2", Groups: []string{clustersapi.AgentsGroup}}
	attrs := func(verb, name, sub string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: agent, Verb: verb, APIGroup: "clusters.kubesphere.io", APIVersion: "v1alpha1",
			Resource: "clusters", Subresource: sub, Name: name, ResourceRequest: true}
	}
	for _, tc := range []struct {
		attrs authorizer.AttributesRecord
		want  authorizer.Decision
	}{
		{attrs("get", "member2", ""), authorizer.DecisionAllow},
		{attrs("get", "member2", "status"), authorizer.DecisionAllow},
		{attrs("patch", "member2", ""), authorizer.DecisionDeny},
		{attrs("update", "member2", ""), authorizer.DecisionDeny},
		{attrs("update", "member2", "status"), authorizer.DecisionDeny},
		{attrs("patch", "member2", "status"), authorizer.DecisionDeny},
		{attrs("deletecollection", "", ""), authorizer.DecisionDeny},
		{attrs("list", "", ""), authorizer.DecisionAllow},
		{attrs("watch", "", ""), authorizer.DecisionAllow},
		{attrs("get", "member1", ""), authorizer.DecisionDeny},
		{attrs("update", "member1", "status"), authorizer.DecisionDeny},
		{attrs("delete", "member2", ""), authorizer.DecisionDeny},
		{attrs("create", "", ""), authorizer.DecisionDeny},
		{attrs("get", "member2", "proxy"), authorizer.DecisionDeny},
		{attrs("create", "member1", "proxy"), authorizer.DecisionDeny},
		{authorizer.AttributesRecord{User: agent, Verb: "get", Resource: "secrets", Namespace: "kubesphere-system", ResourceRequest: true}, authorizer.DecisionDeny},
		{authorizer.AttributesRecord{User: agent, Verb: "get", Path: "/apis"}, authorizer.DecisionNoOpinion},
		{authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "alice"}, Verb: "get", APIGroup: "clusters.kubesphere.io", Resource: "clusters", ResourceRequest: true}, authorizer.DecisionNoOpinion},
	} {
		got, reason, err := Authorizer{}.Authorize(context.Background(), tc.attrs)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s/%s %s (%s)", tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Subresource, tc.attrs.Name, reason)
	}
}
