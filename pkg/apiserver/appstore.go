package apiserver

import (
	"math/rand/v2"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/storage"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/appstore"
	appstorev1alpha1 "kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/reposync"
	"kubesphere.io/multicluster/pkg/appstore/upload"
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
	// Uploaded charts live in this server's etcd, beside the Repos.
	uploads, err := c.newUploadStore(informers)
	if err != nil {
		return err
	}
	syncer.ServeUploads(uploads)
	// A release acts on clusters as its requester: writes that would need the requester
	// to read the version or use a cluster are refused now, with nothing stored.
	releaseREST, releaseStatusREST, err := apprelease.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter,
		apprelease.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer, Clusters: clusters, Versions: applicationVersions})
	if err != nil {
		return err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(appstore.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	storage := map[string]rest.Storage{
		"repos":                      repoREST,
		"repos/status":               repoStatusREST,
		"applications":               applications,
		"applicationversions":        appview.NewVersionStorage(applicationVersions, uploads),
		"applicationversions/chart":  appview.NewChartStorage(applicationVersions, syncer, uploads),
		"applicationreleases":        releaseREST,
		"applicationreleases/status": releaseStatusREST,
	}
	// Each review transition is its own subresource, so that RBAC grants each apart.
	for _, action := range upload.Actions() {
		storage["applicationversions/"+upload.Subresource(action)] = appview.NewReviewStorage(applicationVersions, uploads, action)
	}
	group.VersionedResourcesStorageMap[appstorev1alpha1.SchemeGroupVersion.Version] = storage
	if err := generic.InstallAPIGroup(&group); err != nil {
		return err
	}
	startRepoSync(generic, informers, syncer)
	generic.AddPostStartHookOrDie("appstore-uploads", func(hook genericapiserver.PostStartHookContext) error {
		go uploads.Run(hook)
		return nil
	})
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

// newUploadStore keeps uploaded charts in raw etcd storage: neither kind is served, and
// the archives' pieces are kept out of any watch cache.
func (c completedConfig) newUploadStore(informers clusterinformers.SharedInformerFactory) (*upload.Store, error) {
	raw := func(resource string, newFunc, newList func() runtime.Object) (storage.Interface, string, error) {
		opts, err := c.GenericConfig.RESTOptionsGetter.GetRESTOptions(appstore.Resource(resource), newFunc())
		if err != nil {
			return nil, "", err
		}
		prefix := "/" + opts.ResourcePrefix
		s, _, err := generic.NewRawStorage(opts.StorageConfig, newFunc, newList, prefix)
		return s, prefix, err
	}
	records, recordsPrefix, err := raw("chartuploads", func() runtime.Object { return &appstore.ApplicationVersion{} },
		func() runtime.Object { return &appstore.ApplicationVersionList{} })
	if err != nil {
		return nil, err
	}
	chunks, chunksPrefix, err := raw("chartchunks", func() runtime.Object { return &appstore.ChartChunk{} },
		func() runtime.Object { return &appstore.ChartChunkList{} })
	if err != nil {
		return nil, err
	}
	repos := informers.Appstore().V1alpha1().Repos()
	store := upload.New(upload.Config{Records: records, RecordsPrefix: recordsPrefix, Chunks: chunks, ChunksPrefix: chunksPrefix,
		Repos: repos.Lister(), ReposSynced: repos.Informer().HasSynced, Catalog: c.ExtraConfig.Catalog, Quota: c.ExtraConfig.AppStoreUploadQuota})
	// A Repo made or deleted changes what its versions show.
	refresh := func(obj any) {
		if o, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = o.Obj
		}
		if r, ok := obj.(*appstorev1alpha1.Repo); ok {
			store.Refresh(r.Name)
		}
	}
	if _, err := repos.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: refresh, UpdateFunc: func(_, n any) { refresh(n) }, DeleteFunc: refresh,
	}); err != nil {
		return nil, err
	}
	return store, nil
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
