package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"kubesphere.io/multicluster/apis/appstore"
	appstorev1alpha1 "kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/registry/repo"
)

// installAppStore serves appstore.kubesphere.io: the App Store lives on the host only,
// and without --app-store the group is absent from discovery altogether.
func (c completedConfig) installAppStore(generic *genericapiserver.GenericAPIServer) error {
	// A Repo that names a credentials Secret is admitted as a Cluster is: by the
	// requesting user's right to read it.
	repoREST, repoStatusREST, err := repo.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter,
		repo.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer, CredentialsNamespace: c.ExtraConfig.CredentialsNamespace})
	if err != nil {
		return err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(appstore.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	group.VersionedResourcesStorageMap[appstorev1alpha1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"repos":        repoREST,
		"repos/status": repoStatusREST,
	}
	return generic.InstallAPIGroup(&group)
}
