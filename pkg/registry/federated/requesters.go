package federated

import (
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/pkg/requesterauthz"
)

// RequesterSources are the requesters federation may act as: those of the federated
// objects the two informers cache, for holders of act-as-requesters on each kind.
func RequesterSources(objects, clusterObjects cache.SharedIndexInformer) []requesterauthz.Source {
	of := func(obj any) (requesterauthz.Requester, bool) {
		var q v1alpha1.Requester
		switch o := obj.(type) {
		case *v1alpha1.FederatedObject:
			q = o.Status.Requester
		case *v1alpha1.ClusterFederatedObject:
			q = o.Status.Requester
		default:
			return requesterauthz.Requester{}, false
		}
		return requesterauthz.Requester{Username: q.Username, UID: q.UID, Groups: q.Groups, Extra: q.Extra}, true
	}
	return []requesterauthz.Source{
		{Resource: v1alpha1.Resource("federatedobjects"), Informer: objects, RequesterOf: of},
		{Resource: v1alpha1.Resource("clusterfederatedobjects"), Informer: clusterObjects, RequesterOf: of},
	}
}
