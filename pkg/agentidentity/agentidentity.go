// Package agentidentity makes an Agent cluster's join token an identity on cluster-apiserver
// that sees only its own cluster: it may read its own Cluster (lists and watches show that
// Cluster alone) and nothing else. It writes nothing: not spec (which says where the host
// sends users' requests for the cluster), not metadata, not status (whose identity and
// conditions host components own; the agent reports nothing there). Whoever holds a
// member's agent can therefore never steer traffic meant for another member.
package agentidentity

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

// hashIndex indexes token Secrets by their token hash. Agent identities are
// clustersapi.AgentUserPrefix+<cluster>, in clustersapi.AgentsGroup.
const hashIndex = "agent-token-hash"

// IndexTokens lets the Secret informer find a token Secret by its hash (token Secrets as
// agenttoken.HashOf accepts them; other Secrets are not indexed). Call it before the
// informer starts.
func IndexTokens(informer cache.SharedIndexInformer) error {
	return informer.AddIndexers(cache.Indexers{hashIndex: func(obj any) ([]string, error) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return nil, nil
		}
		if _, hash, ok := agenttoken.HashOf(s); ok {
			return []string{hash}, nil
		}
		return nil, nil
	}})
}

// Authenticator accepts join tokens.
type Authenticator struct{ Index cache.Indexer }

// AuthenticateToken maps a join token to its cluster's agent identity; any other token is
// left to the next authenticator.
func (a Authenticator) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	if !agenttoken.LooksLike(token) {
		return nil, false, nil
	}
	objs, err := a.Index.ByIndex(hashIndex, agenttoken.Hash(token))
	if err != nil || len(objs) != 1 {
		return nil, false, nil
	}
	cluster := agenttoken.ClusterOf(objs[0].(*corev1.Secret).Name)
	return &authenticator.Response{User: &user.DefaultInfo{
		Name: clustersapi.AgentUserPrefix + cluster, Groups: []string{clustersapi.AgentsGroup, user.AllAuthenticated},
	}}, true, nil
}

// ClusterOf is the cluster of an agent identity; ok is false for every other user.
func ClusterOf(u user.Info) (cluster string, ok bool) {
	if u == nil {
		return "", false
	}
	cluster, ok = strings.CutPrefix(u.GetName(), clustersapi.AgentUserPrefix)
	if !ok || cluster == "" {
		return "", false
	}
	for _, g := range u.GetGroups() {
		if g == clustersapi.AgentsGroup {
			return cluster, true
		}
	}
	return "", false
}

// Authorizer decides for agent identities, and has no opinion on anyone else.
type Authorizer struct{}

// Authorize allows an agent get of its own Cluster and its status, and list and watch of
// clusters (which the storage narrows to its own). It denies every other resource request:
// every write, and the proxy of every cluster. Non-resource requests (discovery) are left
// to the host.
func (Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	cluster, ok := ClusterOf(a.GetUser())
	if !ok || !a.IsResourceRequest() {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if a.GetAPIGroup() == clustersapi.GroupName && a.GetResource() == "clusters" {
		switch sub, verb := a.GetSubresource(), a.GetVerb(); {
		case (sub == "" || sub == "status") && a.GetName() == cluster && verb == "get":
			return authorizer.DecisionAllow, "", nil
		case sub == "" && (verb == "list" || verb == "watch"):
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionDeny, fmt.Sprintf("the agent of cluster %q may only get, list and watch its own Cluster: agent identities write nothing (rule of cluster-apiserver's agents authorizer)", cluster), nil
}

// ConditionsAwareAuthorize is Authorize: agents' rules have no conditions.
func (a Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is never needed: Authorize makes no conditional decision.
func (Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
