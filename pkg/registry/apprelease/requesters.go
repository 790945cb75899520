package apprelease

import (
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/requesterauthz"
)

// RequesterSource is the requesters appstore-controller may act as: those of the
// ApplicationReleases informer caches, for holders of act-as-requesters on
// applicationreleases.
func RequesterSource(informer cache.SharedIndexInformer) requesterauthz.Source {
	return requesterauthz.Source{Resource: v1alpha1.Resource("applicationreleases"), Informer: informer,
		RequesterOf: func(obj any) (requesterauthz.Requester, bool) {
			r, ok := obj.(*v1alpha1.ApplicationRelease)
			if !ok {
				return requesterauthz.Requester{}, false
			}
			q := r.Status.Requester
			return requesterauthz.Requester{Username: q.Username, UID: q.UID, Groups: q.Groups, Extra: q.Extra}, true
		}}
}
