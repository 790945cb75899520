package secureserving

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// accessReviewer asks the host's SubjectAccessReview, as upstream's webhook authorizer
// does with a client: answers kept by the whole review (user, groups, extra, attributes),
// allowed ones for allowTTL, the others for denyTTL; an error is no decision, and the
// request then fails (500), never passes.
type accessReviewer struct {
	client            rest.Interface
	allowTTL, denyTTL time.Duration
	backoff           wait.Backoff
	cache             *utilcache.LRUExpireCache
}

func (r *accessReviewer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	review := &authorizationv1.SubjectAccessReview{}
	if u := a.GetUser(); u != nil {
		review.Spec = authorizationv1.SubjectAccessReviewSpec{User: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
		if extra := u.GetExtra(); extra != nil {
			review.Spec.Extra = make(map[string]authorizationv1.ExtraValue, len(extra))
			for k, v := range extra {
				review.Spec.Extra[k] = v
			}
		}
	}
	if a.IsResourceRequest() {
		review.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: a.GetNamespace(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Version: a.GetAPIVersion(),
			Resource: a.GetResource(), Subresource: a.GetSubresource(), Name: a.GetName(),
		}
	} else {
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.GetPath(), Verb: a.GetVerb()}
	}
	key, err := json.Marshal(review.Spec)
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if cached, ok := r.cache.Get(string(key)); ok {
		review.Status = cached.(authorizationv1.SubjectAccessReviewStatus)
	} else {
		ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
		defer cancel()
		var result *authorizationv1.SubjectAccessReview
		if err := withRetries(ctx, r.backoff, func() (err error) {
			result = &authorizationv1.SubjectAccessReview{}
			return r.client.Post().Resource("subjectaccessreviews").Body(review).Do(ctx).Into(result)
		}); err != nil {
			klog.ErrorS(err, "Failed to make webhook authorizer request")
			return authorizer.DecisionNoOpinion, "", err
		}
		review.Status = result.Status
		ttl := r.denyTTL
		if review.Status.Allowed {
			ttl = r.allowTTL
		}
		r.cache.Add(string(key), review.Status, ttl)
	}
	switch s := review.Status; {
	case s.Denied && s.Allowed:
		return authorizer.DecisionDeny, s.Reason, fmt.Errorf("webhook subject access review returned both allow and deny response")
	case s.Denied:
		return authorizer.DecisionDeny, s.Reason, nil
	case s.Allowed:
		return authorizer.DecisionAllow, s.Reason, nil
	default:
		return authorizer.DecisionNoOpinion, s.Reason, nil
	}
}
