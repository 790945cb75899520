package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"kubesphere.io/multicluster/apis/federation"
	federationv1alpha1 "kubesphere.io/multicluster/apis/federation/v1alpha1"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/registry/federated"
)

// installFederation serves federation.kubesphere.io; without --federation the group is
// absent from discovery.
func (c completedConfig) installFederation(generic *genericapiserver.GenericAPIServer, informers clusterinformers.SharedInformerFactory,
	clusters clusterlisters.ClusterLister) error {
	namespaces := informers.Federation().V1alpha1().ClusterFederatedObjects()
	// A write that would have federation act on a cluster is refused now, with nothing
	// stored, when the requester may not use that cluster.
	guard := federated.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer, Clusters: clusters, Namespaces: namespaces.Lister()}
	objects, clusterObjects, objectsStatus, clusterObjectsStatus, err := federated.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter, guard)
	if err != nil {
		return err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(federation.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	group.VersionedResourcesStorageMap[federationv1alpha1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"federatedobjects":               objects,
		"federatedobjects/status":        objectsStatus,
		"clusterfederatedobjects":        clusterObjects,
		"clusterfederatedobjects/status": clusterObjectsStatus,
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return err
	}
	_ = namespaces.Informer() // registered before the factory starts
	generic.AddPostStartHookOrDie("federation-informers", func(hook genericapiserver.PostStartHookContext) error {
		informers.Start(hook.Done())
		return nil
	})
	return nil
}
