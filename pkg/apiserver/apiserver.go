// Package apiserver assembles cluster-apiserver: the clusters.kubesphere.io API group (and,
// on the host, the App Store's appstore.kubesphere.io) on a generic API server.
package apiserver

import (
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	authnunion "k8s.io/apiserver/pkg/authentication/request/union"
	authzunion "k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	appstoreinstall "kubesphere.io/multicluster/apis/appstore/install"
	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/install"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	federationinstall "kubesphere.io/multicluster/apis/federation/install"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/agentidentity"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/authncache"
	"kubesphere.io/multicluster/pkg/clusterconn"
	"kubesphere.io/multicluster/pkg/proxy"
	"kubesphere.io/multicluster/pkg/registry/apprelease"
	clusterstorage "kubesphere.io/multicluster/pkg/registry/cluster"
	"kubesphere.io/multicluster/pkg/registry/federated"
	"kubesphere.io/multicluster/pkg/requesterauthz"
)

var (
	// Scheme holds every type the server encodes and decodes.
	Scheme = runtime.NewScheme()
	// Codecs serializes Scheme's types.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	install.Install(Scheme)
	appstoreinstall.Install(Scheme)
	federationinstall.Install(Scheme)
	// Options types such as ListOptions and the unversioned meta types are looked up under
	// the empty group's v1.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

// Config is the whole configuration of the server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

// ExtraConfig is what the server needs beyond a generic API server.
type ExtraConfig struct {
	// CredentialsNamespace is the host namespace of Direct clusters' credentials Secrets.
	CredentialsNamespace string
	// HostClientConfig reaches the host's kube-apiserver; defaults to the generic
	// config's (--kubeconfig or in-cluster).
	HostClientConfig *restclient.Config
	// ShutdownGracePeriod is how long watches and proxied streams may go on once the
	// server begins to shut down.
	ShutdownGracePeriod time.Duration
	// Agents reaches Agent clusters through the tower proxies; nil leaves them unreachable.
	Agents clusterconn.AgentDialer
	// AppStore serves the App Store's group, appstore.kubesphere.io.
	AppStore bool
	// Federation serves federation.kubesphere.io: objects placed on members.
	Federation bool
	// AppStoreUploadQuota caps the total size of uploaded chart archives; 0 is the default.
	AppStoreUploadQuota int64
	// Catalog is this replica's Repo snapshots, which the App Store's views serve and its
	// syncer fills; Complete makes one when the App Store is on.
	Catalog *catalog.Catalog
}

// CompletedConfig is a Config with every default filled in; only Complete makes one.
type CompletedConfig struct {
	*completedConfig
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   ExtraConfig
}

// Complete fills in defaults.
func (c *Config) Complete() CompletedConfig {
	// /clusters/{name}/... is authorized as clusters/proxy, like the subresource path.
	if c.GenericConfig.RequestInfoResolver == nil {
		c.GenericConfig.RequestInfoResolver = genericapiserver.NewRequestInfoResolver(&c.GenericConfig.Config)
	}
	c.GenericConfig.RequestInfoResolver = proxy.RequestInfoResolver{Delegate: c.GenericConfig.RequestInfoResolver}
	// Proxied watches, logs -f, exec and port-forward last as long as the client wants: no
	// request timeout may cut them. A proxied request is long-running exactly when the
	// member would call it so.
	c.GenericConfig.LongRunningFunc = proxy.LongRunningCheck(genericfilters.BasicLongRunningRequestCheck(
		sets.NewString("watch", "proxy"), sets.NewString("proxy", "attach", "exec", "log", "portforward")))
	// Every proxied request is authenticated: verify a client certificate once per TTL,
	// not once per request.
	if a := c.GenericConfig.Authentication.Authenticator; a != nil {
		c.GenericConfig.Authentication.Authenticator = authncache.New(a, c.GenericConfig.Authentication.RequestHeaderConfig, 0)
	}
	c.GenericConfig.BuildHandlerChainFunc = buildHandlerChain
	if c.ExtraConfig.HostClientConfig == nil {
		c.ExtraConfig.HostClientConfig = c.GenericConfig.ClientConfig
	}
	// Watches on this server's own resources end at shutdown too (they would otherwise
	// hold it for its whole shutdown timeout, 60 s).
	if c.ExtraConfig.ShutdownGracePeriod > 0 {
		c.GenericConfig.ShutdownWatchTerminationGracePeriod = c.ExtraConfig.ShutdownGracePeriod
	}
	if c.ExtraConfig.CredentialsNamespace == "" {
		c.ExtraConfig.CredentialsNamespace = clusters.DefaultNamespace
	}
	if c.ExtraConfig.AppStore && c.ExtraConfig.Catalog == nil {
		c.ExtraConfig.Catalog = newCatalog()
	}
	return CompletedConfig{&completedConfig{GenericConfig: c.GenericConfig.Complete(), ExtraConfig: c.ExtraConfig}}
}

// Server is a configured cluster-apiserver.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// New builds the server and installs the API group.
func (c CompletedConfig) New() (*Server, error) {
	hostClient, err := kubernetes.NewForConfig(c.ExtraConfig.HostClientConfig)
	if err != nil {
		return nil, err
	}
	// Credentials Secrets of Direct clusters and token hashes of Agent clusters: one
	// namespace, one cache.
	secretInformers := informers.NewSharedInformerFactoryWithOptions(hostClient, 0,
		informers.WithNamespace(c.ExtraConfig.CredentialsNamespace))
	secretInformer := secretInformers.Core().V1().Secrets()
	if err := agentidentity.IndexTokens(secretInformer.Informer()); err != nil {
		return nil, err
	}
	// An agent's join token is an identity that sees its own Cluster only; agents are
	// decided here, everyone else by the host.
	if a := c.GenericConfig.Authentication.Authenticator; a != nil {
		c.GenericConfig.Authentication.Authenticator = authnunion.New(
			bearertoken.New(agentidentity.Authenticator{Index: secretInformer.Informer().GetIndexer()}), a)
	}
	// The App Store's objects, from this server through the loopback client: its Repo
	// syncer and the requesters appstore-controller may act as.
	var appStoreInformers clusterinformers.SharedInformerFactory
	if c.ExtraConfig.AppStore {
		client, err := clientset.NewForConfig(c.GenericConfig.LoopbackClientConfig)
		if err != nil {
			return nil, err
		}
		appStoreInformers = clusterinformers.NewSharedInformerFactory(client, 0)
	}
	// Federated objects, from this server: admission's namespace placements, and the
	// requesters federation may act as.
	var fedInformers clusterinformers.SharedInformerFactory
	if c.ExtraConfig.Federation {
		client, err := clientset.NewForConfig(c.GenericConfig.LoopbackClientConfig)
		if err != nil {
			return nil, err
		}
		fedInformers = clusterinformers.NewSharedInformerFactory(client, 0)
	}
	if a := c.GenericConfig.Authorization.Authorizer; a != nil {
		authorizers := []authzunion.NamedAuthorizer{{AuthorizerName: "agents", Authorizer: agentidentity.Authorizer{}}}
		if appStoreInformers != nil {
			// appstore-controller's only grant of impersonation: as recorded requesters, on
			// clusters/proxy, decided here (the host's kube-apiserver never grants it).
			requesters, err := requesterauthz.New(a, apprelease.RequesterSource(appStoreInformers.Appstore().V1alpha1().ApplicationReleases().Informer()))
			if err != nil {
				return nil, err
			}
			authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: "appstore-requesters", Authorizer: requesters})
		}
		if fedInformers != nil {
			// The same for federation, as the requesters of federated objects only.
			fed := fedInformers.Federation().V1alpha1()
			for _, src := range federated.RequesterSources(fed.FederatedObjects().Informer(), fed.ClusterFederatedObjects().Informer()) {
				requesters, err := requesterauthz.New(a, src)
				if err != nil {
					return nil, err
				}
				authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: "federation-requesters:" + src.Resource.Resource, Authorizer: requesters})
			}
		}
		authorizers = append(authorizers, authzunion.NamedAuthorizer{AuthorizerName: "host", Authorizer: a})
		if c.GenericConfig.Authorization.Authorizer, err = authzunion.New(authorizers...); err != nil {
			return nil, err
		}
	}
	generic, err := c.GenericConfig.New("cluster-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	// Cluster writes are admitted against the requesting user's rights on the host (the
	// Secret they name, the host label), decided by this server's own authorizer.
	clusterREST, statusREST, err := clusterstorage.NewStorage(Scheme, c.GenericConfig.RESTOptionsGetter,
		clusterstorage.Guard{Authorizer: c.GenericConfig.Authorization.Authorizer})
	if err != nil {
		return nil, err
	}
	if err := c.addAuthenticationReadyz(generic); err != nil {
		return nil, err
	}
	proxyCore, clusterLister, err := c.newProxy(generic, secretInformers, secretInformer)
	if err != nil {
		return nil, err
	}
	// A ParameterCodec from our scheme: it knows ClusterProxyOptions.
	group := genericapiserver.NewDefaultAPIGroupInfo(clusters.GroupName, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	group.VersionedResourcesStorageMap[v1alpha1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"clusters":        clusterREST,
		"clusters/status": statusREST,
		"clusters/proxy":  &clusterstorage.ProxyREST{Proxy: proxyCore},
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, err
	}
	if c.ExtraConfig.AppStore {
		if err := c.installAppStore(generic, appStoreInformers, secretInformer, clusterLister); err != nil {
			return nil, err
		}
	}
	if c.ExtraConfig.Federation {
		if err := c.installFederation(generic, fedInformers, clusterLister); err != nil {
			return nil, err
		}
	}
	generic.Handler.NonGoRestfulMux.HandlePrefix(proxy.ClusterPathPrefix, proxyCore.ClusterPathHandler(Codecs))
	grace := c.ExtraConfig.ShutdownGracePeriod
	if err := generic.AddPreShutdownHook("end-proxied-streams", func() error {
		proxyCore.Shutdown(grace)
		return nil
	}); err != nil {
		return nil, err
	}
	return &Server{GenericAPIServer: generic}, nil
}

// addAuthenticationReadyz keeps the server not ready until the CAs that authenticate its
// clients (the host's client CA and the front proxy's) are loaded: before that the
// generic server answers every certificate-authenticated user as system:anonymous.
func (c completedConfig) addAuthenticationReadyz(generic *genericapiserver.GenericAPIServer) error {
	var providers []dynamiccertificates.CAContentProvider
	if s := c.GenericConfig.SecureServing; s != nil && s.ClientCA != nil {
		providers = append(providers, s.ClientCA)
	}
	if h := c.GenericConfig.Authentication.RequestHeaderConfig; h != nil && h.CAContentProvider != nil {
		providers = append(providers, h.CAContentProvider)
	}
	if len(providers) == 0 {
		return nil
	}
	return generic.AddReadyzChecks(healthz.NamedCheck("client-ca-loaded", func(*http.Request) error {
		for _, p := range providers {
			if len(p.CurrentCABundleContent()) == 0 {
				return fmt.Errorf("%s is not loaded yet", p.Name())
			}
		}
		return nil
	}))
}

// newProxy builds the proxy core on two caches: Clusters from this server (through the
// loopback client) and credentials Secrets from the host, in one namespace only. The
// Clusters cache is returned too, for the App Store's placements.
func (c completedConfig) newProxy(generic *genericapiserver.GenericAPIServer, secretInformers informers.SharedInformerFactory, secretInformer coreinformers.SecretInformer) (*proxy.Proxy, clusterlisters.ClusterLister, error) {
	clusterClient, err := clientset.NewForConfig(c.GenericConfig.LoopbackClientConfig)
	if err != nil {
		return nil, nil, err
	}
	clusterInformers := clusterinformers.NewSharedInformerFactory(clusterClient, 0)
	clusterInformer := clusterInformers.Clusters().V1alpha1().Clusters()
	backends := clusterconn.NewBackends(secretInformer.Lister(), c.ExtraConfig.CredentialsNamespace, c.ExtraConfig.Agents)
	if _, err := clusterInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if cl, ok := obj.(*v1alpha1.Cluster); ok {
				backends.Forget(cl.Name)
			}
		},
	}); err != nil {
		return nil, nil, err
	}
	synced := []cache.InformerSynced{clusterInformer.Informer().HasSynced, secretInformer.Informer().HasSynced}
	generic.AddPostStartHookOrDie("start-cluster-proxy-informers", func(hook genericapiserver.PostStartHookContext) error {
		clusterInformers.Start(hook.Done())
		secretInformers.Start(hook.Done())
		return nil
	})
	// Not ready until the caches are: a proxy request must not see "cluster not found"
	// just because the server started a moment ago.
	if err := generic.AddReadyzChecks(healthz.NamedCheck("cluster-proxy-caches", func(*http.Request) error {
		for _, s := range synced {
			if !s() {
				return fmt.Errorf("clusters and credentials caches not synced yet")
			}
		}
		return nil
	})); err != nil {
		return nil, nil, err
	}
	return proxy.New(clusterInformer.Lister(), backends), clusterInformer.Lister(), nil
}
