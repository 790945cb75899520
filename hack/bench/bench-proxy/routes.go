package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/hack/bench/internal/bench"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// The route ids, which --routes, the code and the tables use (the package comment says
// what each route is).
const (
	routeDirect           = "direct"
	routeBareHop          = "bare-hop"
	routeImpersonatingHop = "impersonating-hop"
	routeTower            = "tower"
	routeClustersPath     = "clusters-path"
	routeHostProxy        = "host-proxy"
)

// routeIDs are every route, in the order they are built and printed.
var routeIDs = []string{routeDirect, routeBareHop, routeImpersonatingHop, routeTower, routeClustersPath, routeHostProxy}

// routeLetters are the names --routes took before ids.
var routeLetters = map[rune]string{'a': routeDirect, 'b': routeBareHop, 'i': routeImpersonatingHop, 't': routeTower, 'c': routeClustersPath, 'd': routeHostProxy}

func parseRoutes(value string) ([]string, error) {
	return bench.ParseRoutes(value, routeIDs, routeLetters)
}

// defaultRoutes are all of them; tower only for an Agent member.
func defaultRoutes(agent bool) []string {
	if agent {
		return routeIDs
	}
	return slices.DeleteFunc(slices.Clone(routeIDs), func(id string) bool { return id == routeTower })
}

type route struct {
	id     string
	client *http.Client
	base   string // URL prefix of the member's API
}

// newRoutes builds the picked routes, in the order of routeIDs. The hops run in child
// processes, started only when picked; tower exists for an Agent member only.
func newRoutes(ctx context.Context, o *options, direct, host *rest.Config, agent bool, picked []string) []route {
	var routes []route
	for _, id := range routeIDs {
		if !slices.Contains(picked, id) {
			continue
		}
		switch id {
		case routeDirect:
			routes = append(routes, route{id, httpClient(direct), direct.Host})
		case routeBareHop:
			hopURL, hopClient := startHop("bare", o.hopProtocol, o.hopMaxProcs)
			routes = append(routes, route{id, hopClient, hopURL})
		case routeImpersonatingHop:
			hopURL, hopClient := startHop("impersonating", o.hopProtocol, o.hopMaxProcs)
			routes = append(routes, route{id, hopClient, hopURL})
		case routeTower:
			if agent {
				routes = append(routes, route{id, tunnelClient(ctx, host, o.member, o.towerKubeconfig, o.towerServers), "http://" + o.member})
			}
		case routeClustersPath:
			routes = append(routes, route{id, httpClient(host), strings.TrimSuffix(o.clusterAPIServer, "/") + "/clusters/" + o.member})
		case routeHostProxy:
			routes = append(routes, route{id, httpClient(host), host.Host + "/apis/clusters.kubesphere.io/v1alpha1/clusters/" + o.member + "/proxy"})
		}
	}
	return routes
}

func restConfig(kubeconfig, context, server string) *rest.Config {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	check(err)
	if server != "" {
		cfg.Host = server
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: measure the servers
	return cfg
}

func httpClient(cfg *rest.Config) *http.Client {
	c, err := rest.HTTPClientFor(cfg)
	check(err)
	return c
}

// hostUser is who the host says the caller of host is, as pkg/proxy impersonates it:
// groups without system:authenticated, UID and extra.
func hostUser(ctx context.Context, host *rest.Config) (rest.ImpersonationConfig, error) {
	review, err := kubernetes.NewForConfigOrDie(host).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return rest.ImpersonationConfig{}, err
	}
	u := review.Status.UserInfo
	imp := rest.ImpersonationConfig{UserName: u.Username, UID: u.UID, Extra: map[string][]string{}}
	for _, g := range u.Groups {
		if g != "system:authenticated" {
			imp.Groups = append(imp.Groups, g)
		}
	}
	for k, v := range u.Extra {
		imp.Extra[k] = v
	}
	return imp, nil
}

// tunnelClient speaks to an Agent member through the tower proxies as cluster-apiserver
// does: streams opened with its credential, the caller impersonated.
func tunnelClient(ctx context.Context, host *rest.Config, member, towerKubeconfig, servers string) *http.Client {
	cred, err := clientcmd.BuildConfigFromFlags("", towerKubeconfig)
	check(err)
	opts := tunnel.DialerOptions{Servers: strings.Split(servers, ","), CAFile: cred.CAFile}
	check(opts.Validate())
	dialer, err := opts.Dialer(cred)
	check(err)
	imp, err := hostUser(ctx, host)
	check(err)
	return httpClient(&rest.Config{Host: "http://" + member, Impersonate: imp, QPS: -1,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialCluster(ctx, member) }})
}

// impersonating is the member's configuration as our proxy uses it: the credential of the
// cluster's Secret (for an Agent cluster, the agent's own from agentKubeconfig),
// impersonating the host user of host (groups without system:authenticated, UID and extra,
// as pkg/proxy sends them).
func impersonating(ctx context.Context, host *rest.Config, member, agentKubeconfig string) (*rest.Config, error) {
	cluster, err := clientset.NewForConfigOrDie(host).ClustersV1alpha1().Clusters().Get(ctx, member, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var cfg *rest.Config
	if cluster.Spec.Connection.Type == v1alpha1.ConnectionAgent {
		if cfg, err = clientcmd.BuildConfigFromFlags("", agentKubeconfig); err != nil {
			return nil, fmt.Errorf("the agent's credential: %w", err)
		}
	} else {
		ref := cluster.Spec.Connection.CredentialsSecretRef
		if ref == nil {
			return nil, fmt.Errorf("cluster %s has no credentials Secret", member)
		}
		hostCS := kubernetes.NewForConfigOrDie(host)
		secret, err := hostCS.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if cfg, err = clientcmd.RESTConfigFromKubeConfig(secret.Data["kubeconfig"]); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}
	if cfg.Impersonate, err = hostUser(ctx, host); err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}
