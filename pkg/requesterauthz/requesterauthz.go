// Package requesterauthz lets the components that act on members as users (appstore-controller
// for ApplicationReleases, controller-manager's federation for federated objects) act as the
// users who asked, and as no one else. It is each component's only grant of impersonation:
// the host's RBAC gives it the verb act-as-requesters on its kind, which means nothing to the
// host's kube-apiserver (so it cannot impersonate there, nor through the aggregated
// clusters/proxy path, which the host authorizes itself), and which an Authorizer of that
// kind, in cluster-apiserver's union ahead of the host's, reads as: on clusters/proxy alone,
// in the user-info and serviceaccount modes of constrained impersonation, as a username,
// UID, group or extra recorded as the requester of some object of that kind. A holder for
// one kind cannot act as the requesters of another. Everything else it leaves to the host,
// which grants no impersonation: an administrator's own impersonation rights stay as the
// host's RBAC has them.
//
// Fields are checked one at a time, as the impersonation filter asks for them: a holder
// could combine the username of one requester with a group of another. Under RBAC, whose
// grants are a union over the subjects of a request, that gains nothing it could not do by
// impersonating each requester in turn.
package requesterauthz

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters"
)

// Verb is the host RBAC verb on a kind that grants acting as its requesters.
const Verb = "act-as-requesters"

// Requester is who asked for an object: the user a component acts as for it.
type Requester struct {
	Username, UID string
	Groups        []string
	Extra         map[string][]string
}

// Source is one kind whose requesters may be acted as: Resource is where the host's RBAC
// grants Verb, Informer caches its objects, and RequesterOf reads an object's requester
// (false for an object of another type).
type Source struct {
	Resource    schema.GroupResource
	Informer    cache.SharedIndexInformer
	RequesterOf func(obj any) (Requester, bool)
}

// Index names: each holds a requester field of every ApplicationRelease.
const (
	byUsername = "requester.username"
	byUID      = "requester.uid"
	byGroup    = "requester.group"
	byExtra    = "requester.extra"
)

// modes the controller may use; the node modes and legacy impersonation are never its own.
var modes = sets.New("user-info", "serviceaccount")

// Authorizer grants the recorded requesters of one kind's objects to holders of Verb on
// that kind.
type Authorizer struct {
	// host decides whether the asker holds Verb (the host's RBAC, by SubjectAccessReview).
	host     authorizer.Authorizer
	resource schema.GroupResource
	index    cache.Indexer
	synced   cache.InformerSynced
}

// New returns the authorizer over host and the source's informer (not started yet: its
// indexes are added here).
func New(host authorizer.Authorizer, src Source) (*Authorizer, error) {
	requesterField := func(f func(Requester) []string) cache.IndexFunc {
		return func(obj any) ([]string, error) {
			r, ok := src.RequesterOf(obj)
			if !ok {
				return nil, fmt.Errorf("not an object of %s: %T", src.Resource, obj)
			}
			return f(r), nil
		}
	}
	if err := src.Informer.AddIndexers(cache.Indexers{
		byUsername: requesterField(func(r Requester) []string { return nonEmpty(r.Username) }),
		byUID:      requesterField(func(r Requester) []string { return nonEmpty(r.UID) }),
		byGroup:    requesterField(func(r Requester) []string { return r.Groups }),
		byExtra: requesterField(func(r Requester) []string {
			var out []string
			for k, vs := range r.Extra {
				for _, v := range vs {
					out = append(out, extraKey(k, v))
				}
			}
			return out
		}),
	}); err != nil {
		return nil, err
	}
	return &Authorizer{host: host, resource: src.Resource, index: src.Informer.GetIndexer(), synced: src.Informer.HasSynced}, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func extraKey(key, value string) string { return key + "\x00" + value }

// Authorize allows holders of Verb the impersonation checks of recorded requesters on
// clusters/proxy; it has no opinion on anything else.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	verb := attrs.GetVerb()
	var granted bool
	switch {
	case strings.HasPrefix(verb, "impersonate-on:"):
		mode, _, _ := strings.Cut(strings.TrimPrefix(verb, "impersonate-on:"), ":")
		granted = modes.Has(mode) && attrs.GetAPIGroup() == clusters.GroupName &&
			attrs.GetResource() == "clusters" && attrs.GetSubresource() == "proxy"
	case strings.HasPrefix(verb, "impersonate:"):
		granted = modes.Has(strings.TrimPrefix(verb, "impersonate:")) && a.recorded(attrs)
	}
	if !granted {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if holds, err := a.holds(ctx, attrs); err != nil || !holds {
		return authorizer.DecisionNoOpinion, "", err
	}
	return authorizer.DecisionAllow, "", nil
}

// holds asks the host whether the asker holds Verb.
func (a *Authorizer) holds(ctx context.Context, attrs authorizer.Attributes) (bool, error) {
	if attrs.GetUser() == nil || a.host == nil {
		return false, nil
	}
	d, _, err := a.host.Authorize(ctx, authorizer.AttributesRecord{User: attrs.GetUser(), Verb: Verb,
		APIGroup: a.resource.Group, APIVersion: "v1alpha1", Resource: a.resource.Resource, ResourceRequest: true})
	return d == authorizer.DecisionAllow, err
}

// recorded tells whether some object records the impersonated field; not before the
// cache has synced, never a wildcard.
func (a *Authorizer) recorded(attrs authorizer.Attributes) bool {
	name := attrs.GetName()
	if attrs.GetAPIGroup() != "authentication.k8s.io" || name == "" || name == "*" || !a.synced() {
		return false
	}
	var index, value string
	switch attrs.GetResource() {
	case "users":
		index, value = byUsername, name
	case "serviceaccounts":
		index, value = byUsername, serviceaccount.MakeUsername(attrs.GetNamespace(), name)
	case "uids":
		index, value = byUID, name
	case "groups":
		index, value = byGroup, name
	case "userextras":
		index, value = byExtra, extraKey(attrs.GetSubresource(), name)
	default:
		return false
	}
	keys, err := a.index.IndexKeys(index, value)
	return err == nil && len(keys) > 0
}

// ConditionsAwareAuthorize is Authorize: its rules have no conditions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is never needed: Authorize makes no conditional decision.
func (*Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
