// Package federation is the federation controller: it places each federated object on its
// clusters by server-side apply through cluster-apiserver's /clusters/<name>/ path as the
// object's requester, follows the member objects by watches of only what it made, and
// reports each cluster's row. A slow or down cluster holds only its own row.
package federation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions/clusters/v1alpha1"
	fedinformers "kubesphere.io/multicluster/generated/informers/externalversions/federation/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	fedlisters "kubesphere.io/multicluster/generated/listers/federation/v1alpha1"
	"kubesphere.io/multicluster/pkg/actas"
	"kubesphere.io/multicluster/pkg/controller/internal/workers"
	"kubesphere.io/multicluster/pkg/placement"
)

// clusterTimeout bounds one cluster's work in one sync.
const clusterTimeout = 30 * time.Second

// unwatchedResync is how soon an object whose member objects are not watched yet is looked
// at again.
const unwatchedResync = 5 * time.Second

// Controller reconciles FederatedObjects and ClusterFederatedObjects.
type Controller struct {
	client         clientset.Interface
	objects        fedlisters.FederatedObjectLister
	clusterObjects fedlisters.ClusterFederatedObjectLister
	clusters       clusterlisters.ClusterLister
	synced         []cache.InformerSynced
	queue          workqueue.TypedRateLimitingInterface[string]
	members        *members

	mu    sync.Mutex
	byUID map[string]string // federated object UID -> queue key
}

// New returns a controller that acts on members through clusterAPIServer (cluster-apiserver's
// own port with this component's credentials).
func New(client clientset.Interface, clusterAPIServer *rest.Config, objects fedinformers.FederatedObjectInformer,
	clusterObjects fedinformers.ClusterFederatedObjectInformer, clusters clusterinformers.ClusterInformer) (*Controller, error) {
	c := &Controller{
		client: client, objects: objects.Lister(), clusterObjects: clusterObjects.Lister(), clusters: clusters.Lister(),
		synced: []cache.InformerSynced{objects.Informer().HasSynced, clusterObjects.Informer().HasSynced, clusters.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "federation"}),
		byUID: map[string]string{},
	}
	c.members = newMembers(clusterAPIServer, func(uid string) {
		c.mu.Lock()
		key, ok := c.byUID[uid]
		c.mu.Unlock()
		if ok {
			c.queue.Add(key)
		}
	})
	add := func(prefix string) func(obj any) {
		return func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				return
			}
			key := prefix + m.GetNamespace() + "/" + m.GetName()
			c.mu.Lock()
			c.byUID[string(m.GetUID())] = key
			c.mu.Unlock()
			c.queue.Add(key)
		}
	}
	for _, h := range []struct {
		inf    cache.SharedIndexInformer
		prefix string
	}{{objects.Informer(), "fo:"}, {clusterObjects.Informer(), "cfo:"}} {
		f := add(h.prefix)
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, n any) { f(n) }, DeleteFunc: f}); err != nil {
			return nil, err
		}
	}
	// A federated Namespace that changes (its placement, or its rows: the namespace now
	// exists on a cluster) changes the objects of that namespace that follow it.
	followers := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		cfo, ok := obj.(*v1alpha1.ClusterFederatedObject)
		if !ok {
			return
		}
		if ns, ok := placement.NamespaceOf(cfo); ok {
			list, _ := c.objects.FederatedObjects(ns).List(labels.Everything())
			for _, fo := range list {
				c.queue.Add("fo:" + fo.Namespace + "/" + fo.Name)
			}
		}
	}
	if _, err := clusterObjects.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: followers, UpdateFunc: func(_, n any) { followers(n) }, DeleteFunc: followers}); err != nil {
		return nil, err
	}
	// A Cluster that appears, turns Ready or not, changes labels or goes away may change any
	// object's rows.
	all := func() {
		c.mu.Lock()
		keys := make([]string, 0, len(c.byUID))
		for _, k := range c.byUID {
			keys = append(keys, k)
		}
		c.mu.Unlock()
		for _, k := range keys {
			c.queue.Add(k)
		}
	}
	_, err := clusters.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { all() },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if cl, ok := obj.(*clustersv1alpha1.Cluster); ok {
				c.members.forgetCluster(cl.Name)
			}
			all()
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*clustersv1alpha1.Cluster)
			n, ok2 := cur.(*clustersv1alpha1.Cluster)
			if ok1 && ok2 && labels.Equals(o.Labels, n.Labels) &&
				meta.IsStatusConditionTrue(o.Status.Conditions, clustersv1alpha1.ClusterReady) == meta.IsStatusConditionTrue(n.Status.Conditions, clustersv1alpha1.ClusterReady) {
				return
			}
			all()
		},
	})
	return c, err
}

// Run works with n workers until ctx ends.
func (c *Controller) Run(ctx context.Context, n int) {
	defer c.members.stop()
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
		key, quit := c.queue.Get()
		if quit {
			return
		}
		again, err := c.sync(ctx, key)
		switch {
		case err != nil:
			klog.ErrorS(err, "Syncing a federated object", "key", key)
			c.queue.AddRateLimited(key)
		case again > 0:
			c.queue.Forget(key)
			c.queue.AddAfter(key, again)
		default:
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// object is one of the two kinds as the controller reads and writes it.
type object struct {
	meta   *metav1.ObjectMeta
	spec   *v1alpha1.FederatedSpec
	status *v1alpha1.FederatedStatus
	write  func(ctx context.Context) error // the status
	update func(ctx context.Context) error // the object (finalizers)
}

func (c *Controller) get(key string) (*object, error) {
	kind, rest, _ := strings.Cut(key, ":")
	ns, name, _ := strings.Cut(rest, "/")
	fed := c.client.FederationV1alpha1()
	if kind == "fo" {
		o, err := c.objects.FederatedObjects(ns).Get(name)
		if err != nil {
			return nil, err
		}
		o = o.DeepCopy()
		return &object{meta: &o.ObjectMeta, spec: &o.Spec, status: &o.Status,
			write: func(ctx context.Context) error {
				_, err := fed.FederatedObjects(ns).UpdateStatus(ctx, o, metav1.UpdateOptions{})
				return err
			},
			update: func(ctx context.Context) error {
				_, err := fed.FederatedObjects(ns).Update(ctx, o, metav1.UpdateOptions{})
				return err
			}}, nil
	}
	o, err := c.clusterObjects.Get(name)
	if err != nil {
		return nil, err
	}
	o = o.DeepCopy()
	return &object{meta: &o.ObjectMeta, spec: &o.Spec, status: &o.Status,
		write: func(ctx context.Context) error {
			_, err := fed.ClusterFederatedObjects().UpdateStatus(ctx, o, metav1.UpdateOptions{})
			return err
		},
		update: func(ctx context.Context) error {
			_, err := fed.ClusterFederatedObjects().Update(ctx, o, metav1.UpdateOptions{})
			return err
		}}, nil
}

// placed returns the clusters o selects: its placement, or that of its namespace's
// ClusterFederatedObject.
func (c *Controller) placed(o *object) ([]string, error) {
	p := o.spec.Placement
	if p == nil && o.meta.Namespace != "" {
		p = c.namespacePlacement(o.meta.Namespace)
	}
	if p == nil {
		return nil, nil
	}
	return placement.Select(p.Clusters, p.ClusterSelector, c.clusters)
}

func (c *Controller) namespacePlacement(ns string) *v1alpha1.Placement {
	all, err := c.clusterObjects.List(labels.Everything())
	if err != nil {
		return nil
	}
	// The same one admission takes: the oldest; while it is being deleted its objects stay.
	if cfo := placement.NamespaceObject(all, ns); cfo != nil {
		return cfo.Spec.Placement
	}
	return nil
}

// sync reconciles one federated object; it returns when to look again (0: at the next
// event).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	o, err := c.get(key)
	if apierrors.IsNotFound(err) {
		c.members.keep(key, nil)
		c.mu.Lock()
		for uid, k := range c.byUID {
			if k == key {
				delete(c.byUID, uid)
			}
		}
		c.mu.Unlock()
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.byUID[string(o.meta.UID)] = key
	c.mu.Unlock()
	q := o.status.Requester
	t := &target{key: key, uid: string(o.meta.UID), generation: o.meta.Generation, namespace: o.meta.Namespace, spec: o.spec,
		user: actas.User{Username: q.Username, UID: q.UID, Groups: q.Groups, Extra: q.Extra}, watched: map[watchKey]bool{}}
	before := o.status.DeepCopy()
	rows := map[string]v1alpha1.ClusterStatus{}
	for _, r := range o.status.Clusters {
		rows[r.Cluster] = r
	}
	deleting := o.meta.DeletionTimestamp != nil
	var placed []string
	if !deleting {
		if placed, err = c.placed(o); err != nil {
			return 0, err
		}
	}
	if t.user.Username == "" && (len(placed) > 0 || len(rows) > 0) {
		return 0, c.writeRows(ctx, o, before, rows, placed, "no requester is recorded: change the spec as a user to have it applied")
	}
	// Every cluster in parallel, each bounded: one slow member holds only its row.
	var mu sync.Mutex
	var wg sync.WaitGroup
	cleaned := map[string]bool{}
	for _, cl := range union(placed, rows) {
		row := rows[cl]
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, clusterTimeout)
			defer cancel()
			var out v1alpha1.ClusterStatus
			done := false
			if slices.Contains(placed, cl) {
				out = c.applyCluster(cctx, t, cl, row)
			} else {
				out, done = c.cleanup(cctx, t, cl, row)
			}
			mu.Lock()
			defer mu.Unlock()
			if done {
				cleaned[cl] = true
				delete(rows, cl)
				return
			}
			if !apiequality.Semantic.DeepEqual(stripTime(out), stripTime(row)) {
				out.LastTransitionTime = metav1.Now()
			}
			rows[cl] = out
		})
	}
	wg.Wait()
	c.members.keep(key, t.watched)
	if deleting {
		if len(rows) == 0 {
			return 0, c.dropFinalizer(ctx, o)
		}
		return unwatchedResync, c.writeRows(ctx, o, before, rows, placed, "")
	}
	if err := c.writeRows(ctx, o, before, rows, placed, ""); err != nil {
		return 0, err
	}
	for _, r := range rows {
		if r.Reason != "" && r.Reason != "Drifted" || !r.Applied {
			return unwatchedResync * 6, nil // retried; a Cluster turning Ready requeues sooner
		}
	}
	return 0, nil
}

func stripTime(r v1alpha1.ClusterStatus) v1alpha1.ClusterStatus {
	r.LastTransitionTime = metav1.Time{}
	return r
}

func union(placed []string, rows map[string]v1alpha1.ClusterStatus) []string {
	out := slices.Clone(placed)
	for cl := range rows {
		out = append(out, cl)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// writeRows stores the rows and the summary, unless nothing changed.
func (c *Controller) writeRows(ctx context.Context, o *object, before *v1alpha1.FederatedStatus, rows map[string]v1alpha1.ClusterStatus, placed []string, blocked string) error {
	st := o.status
	st.Clusters = st.Clusters[:0:0]
	for _, r := range rows {
		st.Clusters = append(st.Clusters, r)
	}
	for _, cl := range placed {
		if _, ok := rows[cl]; !ok {
			st.Clusters = append(st.Clusters, v1alpha1.ClusterStatus{Cluster: cl, Reason: "Pending", Message: blocked, LastTransitionTime: metav1.Now()})
		}
	}
	slices.SortFunc(st.Clusters, func(a, b v1alpha1.ClusterStatus) int { return strings.Compare(a.Cluster, b.Cluster) })
	summarize(st, o.meta.Generation, len(placed))
	if apiequality.Semantic.DeepEqual(stripStatusTimes(*st), stripStatusTimes(*before)) {
		return nil
	}
	return o.write(ctx)
}

func stripStatusTimes(s v1alpha1.FederatedStatus) v1alpha1.FederatedStatus {
	s = *s.DeepCopy()
	for i := range s.Clusters {
		s.Clusters[i].LastTransitionTime = metav1.Time{}
	}
	for i := range s.Conditions {
		s.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return s
}

// summarize sets the sums, observedGeneration (only when every placed cluster applied this
// generation) and the conditions.
func summarize(st *v1alpha1.FederatedStatus, gen int64, placed int) {
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.UpdatedReplicas = 0, 0, 0, 0
	var notApplied, notReady, drifted []string
	for _, r := range st.Clusters {
		st.Replicas += r.Replicas
		st.ReadyReplicas += r.ReadyReplicas
		st.AvailableReplicas += r.AvailableReplicas
		st.UpdatedReplicas += r.UpdatedReplicas
		why := r.Cluster
		if r.Reason != "" {
			why += " (" + r.Reason + ")"
		}
		if !r.Applied || r.AppliedGeneration != gen {
			notApplied = append(notApplied, why)
		}
		if !r.Ready {
			notReady = append(notReady, why)
		}
		if len(r.Drifted) > 0 {
			drifted = append(drifted, r.Cluster+": "+strings.Join(r.Drifted, ", "))
		}
	}
	if len(notApplied) == 0 && placed > 0 {
		st.ObservedGeneration = gen
	}
	set := func(t string, ok bool, yes, no, msgYes string, list []string) {
		c := metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: yes, Message: msgYes, ObservedGeneration: gen, LastTransitionTime: metav1.Now()}
		if !ok {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, no, truncate(strings.Join(list, "; "), 4096)
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}
	if placed == 0 {
		set(federation.ConditionApplied, false, "", "NotPlaced", "", []string{"the placement selects no cluster"})
		set(federation.ConditionReady, false, "", "NotPlaced", "", []string{"the placement selects no cluster"})
	} else {
		set(federation.ConditionApplied, len(notApplied) == 0, "Applied", "NotApplied", "every placed cluster has this generation", notApplied)
		set(federation.ConditionReady, len(notReady) == 0, "Ready", "NotReady", "the object is ready on every placed cluster", notReady)
	}
	d := metav1.Condition{Type: federation.ConditionDrifted, Status: metav1.ConditionFalse, Reason: "InSync", Message: "no field the template sets differs on a member",
		ObservedGeneration: gen, LastTransitionTime: metav1.Now()}
	if len(drifted) > 0 {
		d.Status, d.Reason, d.Message = metav1.ConditionTrue, "Drifted", truncate(strings.Join(drifted, "; "), 4096)
	}
	meta.SetStatusCondition(&st.Conditions, d)
}

// dropFinalizer lets a deleted object go once every cluster is cleaned.
func (c *Controller) dropFinalizer(ctx context.Context, o *object) error {
	if !slices.Contains(o.meta.Finalizers, federation.CleanupFinalizer) {
		return nil
	}
	o.meta.Finalizers = slices.DeleteFunc(o.meta.Finalizers, func(f string) bool { return f == federation.CleanupFinalizer })
	err := o.update(ctx)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing the finalizer: %w", err)
	}
	return nil
}
