package apiserver

import (
	"math/rand/v2"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	coreinformers "k8s.io/client-go/informers/core/v1"

	"kubesphere.io/multicluster/apis/appstore"
	appstorev1alpha1 "kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/reposync"
	"kubesphere.io/multicluster/pkg/registry/apprelease"
	"kubesphere.io/multicluster/pkg/registry/appview"
	"kubesphere.io/multicluster/pkg/registry/repo"
)

// installAppStore serves appstore.kubesphere.io: the App Store lives on the host only,
// and without --app-store the group is absent from discovery altogether.
func (c completedConfig) installAppStore(generic *genericapiserver.GenericAPIServer, informers clusterinformers.SharedInformerFactory,
	secrets coreinformers.SecretInformer, clusters clusterlisters.ClusterLister) error {
	// A Repo that names a credentials Secret is admitted as a Cluster is: by the
	// requesting user's right to read it.
	repoREST, repoStatusREST, err := repo.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter,
		repo.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer, CredentialsNamespace: c.ExtraConfig.CredentialsNamespace})
	if err != nil {
		return err
	}
	// Applications and their versions are computed from this replica's catalog, never
	// stored; the syncer that fills it also serves the versions' chart archives, read with
	// each Repo's own credentials (appstore-controller holds none).
	applications, applicationVersions := appview.NewStorage(c.ExtraConfig.Catalog)
	syncer, err := c.newRepoSyncer(informers, secrets)
	if err != nil {
		return err
	}
	// A release acts on clusters as its requester: writes that would need the requester
	// to read the version or use a cluster are refused now, with nothing stored.
	releaseREST, releaseStatusREST, err := apprelease.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter,
		apprelease.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer, Clusters: clusters, Versions: applicationVersions})
	if err != nil {
		return err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(appstore.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	group.VersionedResourcesStorageMap[appstorev1alpha1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"repos":                      repoREST,
		"repos/status":               repoStatusREST,
		"applications":               applications,
		"applicationversions":        applicationVersions,
		"applicationversions/chart":  appview.NewChartStorage(applicationVersions, syncer),
		"applicationreleases":        releaseREST,
		"applicationreleases/status": releaseStatusREST,
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return err
	}
	startRepoSync(generic, informers, syncer)
	return nil
}

// newRepoSyncer is the syncer of this replica's catalog: every replica reads every Repo
// for itself, and reports to its status.
func (c completedConfig) newRepoSyncer(informers clusterinformers.SharedInformerFactory, secrets coreinformers.SecretInformer) (*reposync.Syncer, error) {
	client, err := clientset.NewForConfig(c.GenericConfig.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	return reposync.New(client, informers.Appstore().V1alpha1().Repos(), secrets.Lister(), c.ExtraConfig.CredentialsNamespace, c.ExtraConfig.Catalog)
}

// startRepoSync runs syncer once the server is up. Starting the informers starts the
// requesters' cache of the impersonation narrowing too.
func startRepoSync(generic *genericapiserver.GenericAPIServer, informers clusterinformers.SharedInformerFactory, syncer *reposync.Syncer) {
	generic.AddPostStartHookOrDie("appstore-repo-sync", func(hook genericapiserver.PostStartHookContext) error {
		informers.Start(hook.Done())
		go syncer.Run(hook, 2)
		return nil
	})
}

// newCatalog returns an empty catalog whose resourceVersions are epoch*1e9 + a counter,
// epoch random in 1..9e9 (docs/design/appstore.md): a restarted replica, or another one,
// hands out numbers a client's old resourceVersion almost surely misses, so that client
// gets 410 Expired and lists again instead of resuming from a state it never saw. The
// largest value stays below 2^63, as continue tokens need.
func newCatalog() *catalog.Catalog {
	return catalog.New((rand.Uint64N(9e9) + 1) * 1e9)
}
