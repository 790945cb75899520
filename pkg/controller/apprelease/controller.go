// Package apprelease installs ApplicationReleases: one Helm release per placed cluster, run
// by pkg/appstore/helmexec as the release's recorded requester through cluster-apiserver's
// proxy. A release is worked on by one worker at a time (the queue's key is the release),
// its clusters in parallel; status follows each cluster, with backoff on failure.
package apprelease

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	appstoreinformers "kubesphere.io/multicluster/generated/informers/externalversions/appstore/v1alpha1"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions/clusters/v1alpha1"
	appstorelisters "kubesphere.io/multicluster/generated/listers/appstore/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/helmexec"
	"kubesphere.io/multicluster/pkg/controller/internal/workers"
)

// Helm is what the controller asks of Helm on one cluster for one operation;
// *helmexec.Session is the real one.
type Helm interface {
	Install(ctx context.Context, r helmexec.Request) (*releasev1.Release, error)
	Upgrade(ctx context.Context, r helmexec.Request) (*releasev1.Release, error)
	Rollback(revision int, timeout time.Duration, description string, maxHistory int) error
	Uninstall(timeout time.Duration, description string) error
	History() ([]*releasev1.Release, error)
	MarkFailed(rel *releasev1.Release, note string) error
}

// Controller reconciles ApplicationReleases.
type Controller struct {
	client   clientset.Interface
	helm     func(helmexec.Target) (Helm, error)
	charts   *charts
	releases appstorelisters.ApplicationReleaseLister
	clusters clusterlisters.ClusterLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	now      func() time.Time
	// pendingGrace is how long past its timeout a pending revision of ours is left to
	// the operation that made it (abandoned).
	pendingGrace time.Duration

	// written holds each release as this controller last wrote it, until the informer
	// catches up: a sync right after a write must not act on the status before it.
	mu      sync.Mutex
	written map[string]*v1alpha1.ApplicationRelease
	// retries holds each release's retry annotation as last seen: a change asks for new
	// attempts (one made while no replica ran is not seen).
	retries map[string]string
	// checked is when each release's clusters' records were last read, by release and
	// cluster.
	checked map[string]map[string]time.Time
	// ready watches deployed releases' workloads on their clusters; nil watches nothing.
	ready *readiness
}

// New returns a controller that reads and writes releases with client and runs Helm with
// helm; Run starts it. A pending revision it made is taken as cut off once it is older
// than the release's timeout plus pendingGrace (DefaultPendingGrace in production).
func New(client clientset.Interface, helm *helmexec.Executor, releases appstoreinformers.ApplicationReleaseInformer,
	clusters clusterinformers.ClusterInformer, pendingGrace time.Duration) (*Controller, error) {
	c := &Controller{
		client: client, charts: newCharts(client), pendingGrace: pendingGrace,
		helm:     func(t helmexec.Target) (Helm, error) { return helm.Session(t) },
		releases: releases.Lister(), clusters: clusters.Lister(),
		synced: []cache.InformerSynced{releases.Informer().HasSynced, clusters.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "apprelease"}),
		now: time.Now, written: map[string]*v1alpha1.ApplicationRelease{}, retries: map[string]string{},
		checked: map[string]map[string]time.Time{},
	}
	c.ready = newReadiness(helm.RESTConfig, func(name string) { c.queue.AddAfter(name, resyncAfter) })
	enqueue := func(obj any) {
		if r, ok := obj.(*v1alpha1.ApplicationRelease); ok {
			c.queue.Add(r.Name)
		}
	}
	if _, err := releases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	// A Cluster that appears, changes labels, turns Ready or goes away may change any
	// release's placement or end a wait; releases are few next to Clusters' status
	// updates, so all are looked at.
	onCluster := func(obj any) {
		if _, ok := obj.(*clustersv1alpha1.Cluster); !ok {
			if _, tomb := obj.(cache.DeletedFinalStateUnknown); !tomb {
				return
			}
		}
		all, _ := c.releases.List(labels.Everything())
		for _, r := range all {
			c.queue.Add(r.Name)
		}
	}
	_, err := clusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onCluster, DeleteFunc: onCluster,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*clustersv1alpha1.Cluster)
			n, ok2 := cur.(*clustersv1alpha1.Cluster)
			// Labels move selectors; a cluster turning Ready again ends its releases' waits.
			if ok1 && ok2 && labels.Equals(o.Labels, n.Labels) &&
				meta.IsStatusConditionTrue(o.Status.Conditions, clustersv1alpha1.ClusterReady) == meta.IsStatusConditionTrue(n.Status.Conditions, clustersv1alpha1.ClusterReady) {
				return
			}
			onCluster(cur)
		},
	})
	return c, err
}

// Run works with n workers until ctx ends.
func (c *Controller) Run(ctx context.Context, n int) {
	synced := func() bool {
		for _, s := range c.synced {
			if !s() {
				return false
			}
		}
		return true
	}
	workers.Run(ctx, n, synced, c.queue.ShutDown, c.work)
}

func (c *Controller) work(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		after, err := c.sync(ctx, name)
		switch {
		case err != nil:
			klog.ErrorS(err, "Reconciling application release", "release", name)
			c.queue.AddRateLimited(name)
		case after > 0:
			c.queue.Forget(name)
			c.queue.AddAfter(name, after)
		default:
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

// current is the release to act on: the informer's, unless this controller has written
// a newer one since (only it writes status, so its write is the status to believe).
func (c *Controller) current(name string) (*v1alpha1.ApplicationRelease, error) {
	rel, err := c.releases.Get(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.written[name]
	if err != nil || w == nil || w.UID != rel.UID || w.ResourceVersion == rel.ResourceVersion || w.Generation < rel.Generation {
		delete(c.written, name)
		return rel, err
	}
	if w.Generation > rel.Generation {
		return w, nil
	}
	rel = rel.DeepCopy()
	rel.Status = *w.Status.DeepCopy()
	return rel, nil
}

func (c *Controller) wrote(rel *v1alpha1.ApplicationRelease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written[rel.Name] = rel
}

// retryAsked tells whether the release's retry annotation changed since the last sync.
func (c *Controller) retryAsked(rel *v1alpha1.ApplicationRelease) bool {
	v := rel.Annotations[appstore.RetryAnnotation]
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, seen := c.retries[rel.Name]
	c.retries[rel.Name] = v
	return seen && prev != v
}

// forget drops what the controller remembers of a release that is gone.
func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.retries, name)
	delete(c.written, name)
	delete(c.checked, name)
	c.ready.stopRelease(name)
}

// checkDue says how long until cluster's records of release are due a read (0 or less:
// now). A release first seen by this replica is read at once.
func (c *Controller) checkDue(release, cluster string, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.checked[release][cluster]
	if !ok {
		return 0
	}
	return at.Add(checkInterval).Sub(now)
}

// wasChecked records that cluster's records of release were read now, with up to a tenth
// of the interval added, so that releases made together are not read together forever.
func (c *Controller) wasChecked(release, cluster string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checked[release] == nil {
		c.checked[release] = map[string]time.Time{}
	}
	c.checked[release][cluster] = now.Add(time.Duration(rand.Int64N(int64(checkInterval / 10))))
}
