package federation

import (
	"context"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/pkg/actas"
)

const ownerLabel = federation.OwnerLabel

// members holds, per cluster and user, the client that acts as that user there, and the
// watches of our objects: one informer per (cluster, user, resource, namespace), selecting
// by the owner label, so the cache holds only what federation made and one watch serves
// every federated object of that key.
type members struct {
	base    *rest.Config
	changed func(uid string)

	mu      sync.Mutex
	clients map[string]*memberClient                           // by cluster "\x00" user
	mappers map[string]*restmapper.DeferredDiscoveryRESTMapper // by client key: discovery as that user
	watches map[watchKey]*watch
	// users are the federated objects (queue keys) that use each watch; a watch no object
	// uses is stopped (its user may no longer be anyone's requester).
	users map[watchKey]map[string]bool
}

type memberClient struct {
	key       string
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
}

type watchKey struct {
	cluster, user string
	gvr           schema.GroupVersionResource
	namespace     string
}

type watch struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

func newMembers(base *rest.Config, changed func(uid string)) *members {
	return &members{base: base, changed: changed, clients: map[string]*memberClient{},
		mappers: map[string]*restmapper.DeferredDiscoveryRESTMapper{}, watches: map[watchKey]*watch{}, users: map[watchKey]map[string]bool{}}
}

// userKey identifies everything a client impersonates.
func userKey(u actas.User) string {
	k := u.Username + "\x00" + u.UID + "\x00" + strings.Join(u.Groups, ",")
	keys := make([]string, 0, len(u.Extra))
	for e := range u.Extra {
		keys = append(keys, e)
	}
	sort.Strings(keys)
	for _, e := range keys {
		k += "\x00" + e + "=" + strings.Join(u.Extra[e], ",")
	}
	return k
}

// client returns the client acting as u on cluster.
func (m *members) client(cluster string, u actas.User) (*memberClient, error) {
	key := cluster + "\x00" + userKey(u)
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.clients[key]; c != nil {
		return c, nil
	}
	cfg := actas.Config(m.base, cluster, u, "kubesphere-federation")
	cfg.QPS, cfg.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &memberClient{key: key, dynamic: dyn, discovery: disc}
	m.clients[key] = c
	return c, nil
}

// mapping resolves a kind on a cluster by the member's discovery as the client's user
// (cached; reset and asked again once when the kind is not found, as a CRD may have just
// been made).
func (m *members) mapping(c *memberClient, gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	m.mu.Lock()
	mapper := m.mappers[c.key]
	if mapper == nil {
		mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.discovery))
		m.mappers[c.key] = mapper
	}
	m.mu.Unlock()
	mp, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		mapper.Reset()
		mp, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	return mp.Resource, mp.Scope.Name() == "namespace", nil
}

// live returns our object name in the watch of key for the federated object user,
// starting that watch on first use; ok is false until the watch has listed (the caller
// reads the member then).
func (m *members) live(key watchKey, c *memberClient, name, user string) (obj *unstructured.Unstructured, found, ok bool) {
	m.mu.Lock()
	if m.users[key] == nil {
		m.users[key] = map[string]bool{}
	}
	m.users[key][user] = true
	w := m.watches[key]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		inf := dynamicinformer.NewFilteredDynamicInformer(c.dynamic, key.gvr, key.namespace, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = ownerLabel }).Informer()
		notify := func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				m.changed(u.GetLabels()[ownerLabel])
			}
		}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: notify, UpdateFunc: func(_, n any) { notify(n) }, DeleteFunc: notify})
		go inf.RunWithContext(ctx)
		w = &watch{informer: inf, cancel: cancel}
		m.watches[key] = w
	}
	m.mu.Unlock()
	if !w.informer.HasSynced() {
		return nil, false, false
	}
	k := name
	if key.namespace != "" {
		k = key.namespace + "/" + name
	}
	item, exists, err := w.informer.GetStore().GetByKey(k)
	if err != nil || !exists {
		return nil, false, err == nil
	}
	u, _ := item.(*unstructured.Unstructured)
	return u, u != nil, true
}

// keep stops the watches user used but no longer does (those not in used), and those no
// object uses any more.
func (m *members) keep(user string, used map[watchKey]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, us := range m.users {
		if us[user] && !used[k] {
			delete(us, user)
		}
		if len(us) == 0 {
			if w := m.watches[k]; w != nil {
				w.cancel()
				delete(m.watches, k)
			}
			delete(m.users, k)
		}
	}
	// A user no watch is left for may be no one's requester any more: drop their clients
	// and discovery (made again on demand).
	inUse := map[string]bool{}
	for k := range m.watches {
		inUse[k.cluster+"\x00"+k.user] = true
	}
	for ck := range m.clients {
		if !inUse[ck] {
			delete(m.clients, ck)
			delete(m.mappers, ck)
		}
	}
}

// forgetCluster stops the watches and drops the clients of a cluster that is gone.
func (m *members) forgetCluster(cluster string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.watches {
		if k.cluster == cluster {
			w.cancel()
			delete(m.watches, k)
			delete(m.users, k)
		}
	}
	for k := range m.clients {
		if strings.HasPrefix(k, cluster+"\x00") {
			delete(m.clients, k)
			delete(m.mappers, k)
		}
	}
}

// stop ends every watch.
func (m *members) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.watches {
		w.cancel()
		delete(m.watches, k)
	}
}
