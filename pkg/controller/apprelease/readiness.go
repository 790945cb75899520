package apprelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/pkg/appstore/helmexec"
)

// workloadKinds are the kinds whose readiness changes after Helm's wait: they are watched
// on the member between operations. The other objects of a release count as ready once
// Helm made them.
var workloadKinds = map[schema.GroupKind]string{
	{Group: "apps", Kind: "Deployment"}:            "deployments",
	{Group: "apps", Kind: "StatefulSet"}:           "statefulsets",
	{Group: "apps", Kind: "DaemonSet"}:             "daemonsets",
	{Group: "apps", Kind: "ReplicaSet"}:            "replicasets",
	{Group: "batch", Kind: "Job"}:                  "jobs",
	{Group: "", Kind: "Pod"}:                       "pods",
	{Group: "", Kind: "PersistentVolumeClaim"}:     "persistentvolumeclaims",
	{Group: "", Kind: "ReplicationController"}:     "replicationcontrollers",
	{Group: "policy", Kind: "PodDisruptionBudget"}: "poddisruptionbudgets",
}

// workload is one watched object of a release.
type workload struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// workloadsOf lists the workloads of a release's manifest; objects without a namespace are
// in the release's.
func workloadsOf(manifest, namespace string) []workload {
	var out []workload
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var m struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m.Metadata.Name == "" {
			continue
		}
		gv, err := schema.ParseGroupVersion(m.APIVersion)
		if err != nil {
			continue
		}
		resource, ok := workloadKinds[schema.GroupKind{Group: gv.Group, Kind: m.Kind}]
		if !ok {
			continue
		}
		ns := m.Metadata.Namespace
		if ns == "" {
			ns = namespace
		}
		out = append(out, workload{gvr: gv.WithResource(resource), namespace: ns, name: m.Metadata.Name})
	}
	return out
}

// readiness watches, through cluster-apiserver's proxy as each release's requester, the
// workloads of every deployed release on every cluster, so that the ready count in status
// follows the member between operations: a Deployment that loses its pods shows, one that
// recovers shows too. Watches of one user on one cluster share one client (one HTTP/2
// connection through the proxy).
type readiness struct {
	config  func(helmexec.Target) *rest.Config
	changed func(release string)

	mu      sync.Mutex
	tracked map[string]*tracked // by release "/" cluster
	clients map[string]*sharedClient
}

type tracked struct {
	release, clientKey, id string
	cancel                 context.CancelFunc
	objects                []workload
	// ready and known are by object index: known once its watch has listed.
	ready, known []bool
	stopped      bool
}

type sharedClient struct {
	client dynamic.Interface
	users  int
}

func newReadiness(config func(helmexec.Target) *rest.Config, changed func(string)) *readiness {
	return &readiness{config: config, changed: changed, tracked: map[string]*tracked{}, clients: map[string]*sharedClient{}}
}

func trackKey(release, cluster string) string { return release + "/" + cluster }

// track watches the workloads of manifest, the deployed revision of t's release; a second
// call with the same manifest and user changes nothing.
func (r *readiness) track(release string, t helmexec.Target, manifest string) {
	if r == nil {
		return
	}
	sum := sha256.Sum256([]byte(t.User.Username + "\x00" + strings.Join(t.User.Groups, ",") + "\x00" + manifest))
	id := hex.EncodeToString(sum[:])
	key := trackKey(release, t.Cluster)
	objects := workloadsOf(manifest, t.Namespace)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.tracked[key]; old != nil {
		if old.id == id {
			return
		}
		r.stopLocked(key)
	}
	if len(objects) == 0 {
		return
	}
	clientKey := t.Cluster + "\x00" + t.User.Username + "\x00" + strings.Join(t.User.Groups, ",")
	sc := r.clients[clientKey]
	if sc == nil {
		client, err := dynamic.NewForConfig(r.config(t))
		if err != nil {
			return
		}
		sc = &sharedClient{client: client}
		r.clients[clientKey] = sc
	}
	sc.users++
	ctx, cancel := context.WithCancel(context.Background())
	tr := &tracked{release: release, clientKey: clientKey, id: id, cancel: cancel, objects: objects,
		ready: make([]bool, len(objects)), known: make([]bool, len(objects))}
	r.tracked[key] = tr
	for i, o := range objects {
		go r.watch(ctx, sc.client, tr, i, o)
	}
}

// watch keeps tr's object i current until ctx ends: an informer on that one object.
func (r *readiness) watch(ctx context.Context, client dynamic.Interface, tr *tracked, i int, o workload) {
	byName := func(opts *metav1.ListOptions) {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.name).String()
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(client, o.gvr, o.namespace, 0, cache.Indexers{}, byName).Informer()
	set := func(obj any, exists bool) {
		ready := false
		if u, ok := obj.(*unstructured.Unstructured); ok && exists {
			if res, err := status.Compute(u); err == nil {
				ready = res.Status == status.CurrentStatus
			}
		}
		r.set(tr, i, ready)
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { set(obj, true) },
		UpdateFunc: func(_, obj any) { set(obj, true) },
		DeleteFunc: func(obj any) { set(obj, false) },
	})
	go inf.RunWithContext(ctx)
	// Listed and nothing there: the object is gone from the member.
	if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) && len(inf.GetStore().List()) == 0 {
		r.set(tr, i, false)
	}
}

func (r *readiness) set(tr *tracked, i int, ready bool) {
	r.mu.Lock()
	changed := !tr.known[i] || tr.ready[i] != ready
	tr.known[i], tr.ready[i] = true, ready
	live := !tr.stopped
	r.mu.Unlock()
	if changed && live {
		r.changed(tr.release)
	}
}

// notReady is how many watched workloads of release on cluster are not ready; known is
// false until every watch has listed (Helm's wait is believed until then).
func (r *readiness) notReady(release, cluster string) (n int, known bool) {
	if r == nil {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.tracked[trackKey(release, cluster)]
	if tr == nil {
		return 0, false
	}
	for i := range tr.objects {
		if !tr.known[i] {
			return 0, false
		}
		if !tr.ready[i] {
			n++
		}
	}
	return n, true
}

// stop ends the watches of release on cluster.
func (r *readiness) stop(release, cluster string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked(trackKey(release, cluster))
}

// stopRelease ends the watches of release on every cluster.
func (r *readiness) stopRelease(release string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, tr := range r.tracked {
		if tr.release == release {
			r.stopLocked(key)
		}
	}
}

func (r *readiness) stopLocked(key string) {
	tr := r.tracked[key]
	if tr == nil {
		return
	}
	tr.cancel()
	tr.stopped = true
	delete(r.tracked, key)
	if sc := r.clients[tr.clientKey]; sc != nil {
		if sc.users--; sc.users <= 0 {
			delete(r.clients, tr.clientKey)
		}
	}
}

// resyncAfter is how soon a release whose workloads changed is looked at: changes of
// several objects come together.
const resyncAfter = 500 * time.Millisecond
