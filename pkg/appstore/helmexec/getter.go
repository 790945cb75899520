package helmexec

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// getter is the genericclioptions.RESTClientGetter Helm builds its clients from: one
// member, as one user, through cluster-apiserver's /clusters/<name>/ path. Discovery is
// cached in memory for the getter's one operation only, so a user never reads another
// user's view of a cluster.
type getter struct {
	config    *rest.Config
	namespace string
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

func newGetter(config *rest.Config, namespace string) (*getter, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	return &getter{config: config, namespace: namespace, discovery: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached)}, nil
}

// ToRESTConfig returns a copy: Helm's factory may change what it is given.
func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.discovery, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) { return g.mapper, nil }

// ToRawKubeConfigLoader answers the one question Helm asks of a kubeconfig here: the
// namespace. There is no kubeconfig file; the REST config above is the whole client.
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return loader{g} }

type loader struct{ g *getter }

func (l loader) RawConfig() (clientcmdapi.Config, error) { return clientcmdapi.Config{}, nil }

func (l loader) ClientConfig() (*rest.Config, error) { return l.g.ToRESTConfig() }

func (l loader) Namespace() (string, bool, error) { return l.g.namespace, true, nil }

func (l loader) ConfigAccess() clientcmd.ConfigAccess { return nil }
