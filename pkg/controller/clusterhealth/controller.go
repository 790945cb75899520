// Package clusterhealth probes every member cluster through the proxy's own connection to
// it and keeps the Cluster's status true: the Ready condition with a reason a user can act
// on, and the version, node count, zones and identity of the member.
package clusterhealth

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/clusterconn"
	"kubesphere.io/multicluster/pkg/controller/internal/workers"
)

// Options tune the probes. The defaults take a dead member to Ready=False within
// Interval*FailureThreshold + Timeout (35 s) and a recovered one back within Interval.
type Options struct {
	// Interval between two probes of one cluster.
	Interval time.Duration
	// Timeout of one probe, all its requests together.
	Timeout time.Duration
	// FailureThreshold is how many probes in a row must fail before a Ready cluster
	// becomes not Ready.
	FailureThreshold int
	// SuccessThreshold is how many probes in a row must succeed before a not Ready
	// cluster becomes Ready.
	SuccessThreshold int
	// Workers probe clusters concurrently; more clusters wait their turn.
	Workers int
	// StatusRefresh is the longest time lastProbeTime may lag when nothing else changes:
	// status is written when something changed, or this often, never on every probe.
	StatusRefresh time.Duration
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{Interval: 10 * time.Second, Timeout: 5 * time.Second, FailureThreshold: 3, SuccessThreshold: 1,
		Workers: 20, StatusRefresh: 5 * time.Minute}
}

// Connector reaches clusters as the host: pkg/clusterconn's Backends, so that probes take the
// proxy's own path.
type Connector interface {
	// RESTConfig is how to reach the cluster's API server, once the member behind it is
	// verified to be the one the Cluster pins (an *clusterconn.IdentityError if not).
	RESTConfig(context.Context, *v1alpha1.Cluster) (*rest.Config, error)
	// ClientCertificateExpiry is when the credential's client certificate expires; ok is
	// false when the credential is not a certificate.
	ClientCertificateExpiry(*v1alpha1.Cluster) (expiry time.Time, ok bool)
}

// ExpiryWarning is how long before its client certificate expires a cluster shows
// CredentialsExpiring=True.
const ExpiryWarning = 7 * 24 * time.Hour

// Controller probes clusters and writes their status.
type Controller struct {
	opts     Options
	client   clientset.Interface
	clusters clusterlisters.ClusterLister
	synced   cache.InformerSynced
	connect  Connector
	recorder record.EventRecorder
	queue    workqueue.TypedDelayingInterface[string]
	now      func() time.Time

	metrics *metrics

	mu      sync.Mutex
	streaks map[string]*streak
}

// streak counts the same probe result in a row.
type streak struct {
	healthy bool
	count   int
}

// New returns a controller; Run starts it.
func New(opts Options, client clientset.Interface, informer clusterinformers.ClusterInformer, connect Connector, recorder record.EventRecorder) (*Controller, error) {
	c := &Controller{
		opts: opts, client: client, clusters: informer.Lister(), synced: informer.Informer().HasSynced,
		connect: connect, recorder: recorder, now: time.Now, streaks: map[string]*streak{},
		metrics: newMetrics(informer.Lister()),
		queue:   workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "clusterhealth"}),
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.queue.Add(obj.(*v1alpha1.Cluster).Name) },
		UpdateFunc: func(old, cur any) {
			// Our own status writes come back here: probe again only when the spec moved.
			if old.(*v1alpha1.Cluster).Generation != cur.(*v1alpha1.Cluster).Generation {
				c.queue.Add(cur.(*v1alpha1.Cluster).Name)
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if cl, ok := obj.(*v1alpha1.Cluster); ok {
				c.mu.Lock()
				delete(c.streaks, cl.Name)
				c.mu.Unlock()
			}
		},
	})
	return c, err
}

// Run probes until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	klog.InfoS("Probing clusters", "interval", c.opts.Interval, "workers", c.opts.Workers)
	workers.Run(ctx, c.opts.Workers, c.synced, c.queue.ShutDown, c.work)
}

func (c *Controller) work(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		requeue, err := c.sync(ctx, name)
		if err != nil {
			klog.ErrorS(err, "Writing cluster status", "cluster", name)
		}
		if requeue {
			c.queue.AddAfter(name, c.opts.Interval)
		}
		c.queue.Done(name)
	}
}

// sync probes one cluster and writes its status if it changed. It reports whether the
// cluster is still there to probe again.
func (c *Controller) sync(ctx context.Context, name string) (bool, error) {
	cluster, err := c.clusters.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return true, err
	}
	var o observation
	pctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	start := time.Now()
	if cfg, err := c.connect.RESTConfig(pctx, cluster); err != nil {
		o = failedToConnect(err)
	} else {
		cfg.Timeout = c.opts.Timeout
		o = probe(pctx, cfg)
	}
	c.metrics.observeProbe(name, o.reason, time.Since(start))
	cancel()
	o = c.checkIdentity(cluster, o)
	status := c.desired(cluster, o)
	c.setCredentialsExpiring(cluster, status)
	setAgentAvailable(cluster, status, o)
	old := cluster.Status.DeepCopy()
	if c.unchanged(old, status) {
		return true, nil
	}
	status.LastProbeTime = &metav1.Time{Time: c.now()}
	updated := cluster.DeepCopy()
	updated.Status = *status
	if _, err := c.client.ClustersV1alpha1().Clusters().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		c.metrics.writes.WithLabelValues("error").Inc()
		return !apierrors.IsNotFound(err), err
	}
	c.metrics.writes.WithLabelValues("ok").Inc()
	c.recordTransition(updated, old)
	return true, nil
}

// checkIdentity refuses a member whose kube-system UID differs from the one the Cluster
// was first seen with, or that another Cluster already claims.
func (c *Controller) checkIdentity(cluster *v1alpha1.Cluster, o observation) observation {
	if !o.healthy {
		return o
	}
	if cluster.Status.UID != "" && cluster.Status.UID != o.uid {
		// Connect refuses this before the probe runs; a probe connection that saw another
		// member anyway is worded the same way.
		err := &clusterconn.IdentityError{Cluster: cluster.Name, Expected: cluster.Status.UID, Found: o.uid}
		return observation{reason: ReasonIdentityMismatch, message: err.Error()}
	}
	all, err := c.clusters.List(everything)
	if err != nil {
		return o
	}
	for _, other := range all {
		if other.Name != cluster.Name && other.Status.UID == o.uid {
			return observation{reason: ReasonDuplicate, message: fmt.Sprintf(
				"cluster %q already is this member (kube-system UID %s); one member, one Cluster", other.Name, o.uid)}
		}
	}
	return o
}

// desired is the status after observation o, with the thresholds applied: a Ready
// cluster stays Ready until FailureThreshold probes in a row fail, and the other way
// round with SuccessThreshold. A cluster never probed takes the first result.
func (c *Controller) desired(cluster *v1alpha1.Cluster, o observation) *v1alpha1.ClusterStatus {
	status := cluster.Status.DeepCopy()
	status.ObservedGeneration = cluster.Generation
	if o.healthy {
		status.KubernetesVersion, status.NodeCount, status.Zones = o.version, o.nodes, o.zones
		if status.UID == "" {
			status.UID = o.uid
		}
	}
	c.mu.Lock()
	s := c.streaks[cluster.Name]
	if s == nil || s.healthy != o.healthy {
		s = &streak{healthy: o.healthy}
		c.streaks[cluster.Name] = s
	}
	s.count++
	count := s.count
	c.mu.Unlock()

	current := meta.FindStatusCondition(status.Conditions, v1alpha1.ClusterReady)
	isReady := current != nil && current.Status == metav1.ConditionTrue
	known := current != nil && current.Status != metav1.ConditionUnknown
	switch {
	case !known, o.healthy == isReady:
		// First result, or the same as shown: take it (its message may be newer).
	case o.reason == ReasonIdentityMismatch || o.reason == ReasonDuplicate:
		// Not a blip to smooth over: the member is not who the Cluster says. Shown at once.
	case o.healthy && count < c.opts.SuccessThreshold, !o.healthy && count < c.opts.FailureThreshold:
		return status // not yet enough in a row to change what is shown
	}
	cond := metav1.Condition{Type: v1alpha1.ClusterReady, Status: metav1.ConditionFalse, Reason: o.reason,
		Message: o.message, ObservedGeneration: cluster.Generation}
	if o.healthy {
		cond.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	return status
}

// setAgentAvailable shows, for an Agent cluster, whether its tunnel is up as of this
// probe, with no threshold: the tower proxies know, there is nothing to smooth.
func setAgentAvailable(cluster *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, o observation) {
	if cluster.Spec.Connection.Type != v1alpha1.ConnectionAgent {
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ClusterAgentAvailable)
		return
	}
	cond := metav1.Condition{Type: v1alpha1.ClusterAgentAvailable, Status: metav1.ConditionTrue, Reason: "AgentConnected",
		Message: "the agent's tunnel is up", ObservedGeneration: cluster.Generation}
	switch o.reason {
	case ReasonAgentDisconnected:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonAgentDisconnected,
			o.message+": check that tower agent runs on the member, reaches the tower proxies, and holds the cluster's current join token"
	case ReasonCredentialsInvalid:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, ReasonCredentialsInvalid, o.message
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

// setCredentialsExpiring shows a client certificate that expires within ExpiryWarning.
// The message names the expiry time, not the time left, so that it does not change (and
// cause a status write) on every probe.
func (c *Controller) setCredentialsExpiring(cluster *v1alpha1.Cluster, status *v1alpha1.ClusterStatus) {
	expiry, ok := c.connect.ClientCertificateExpiry(cluster)
	if !ok {
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ClusterCredentialsExpiring)
		return
	}
	ref := cluster.Spec.Connection.CredentialsSecretRef
	where := "the credentials Secret"
	if ref != nil {
		where = fmt.Sprintf("Secret %s/%s", ref.Namespace, ref.Name)
	}
	at := expiry.UTC().Format(time.RFC3339)
	cond := metav1.Condition{Type: v1alpha1.ClusterCredentialsExpiring, ObservedGeneration: cluster.Generation,
		Status: metav1.ConditionFalse, Reason: "CertificateValid", Message: fmt.Sprintf("the client certificate in %s expires at %s", where, at)}
	switch now := c.now(); {
	case !now.Before(expiry):
		cond.Status, cond.Reason = metav1.ConditionTrue, "CertificateExpired"
		cond.Message = fmt.Sprintf("the client certificate in %s expired at %s: put a new credential in the Secret", where, at)
	case expiry.Sub(now) < ExpiryWarning:
		cond.Status, cond.Reason = metav1.ConditionTrue, "CertificateExpiresSoon"
		cond.Message = fmt.Sprintf("the client certificate in %s expires at %s: put a new credential in the Secret before then", where, at)
	}
	meta.SetStatusCondition(&status.Conditions, cond)
}

// unchanged reports whether writing status would change anything but lastProbeTime, and
// lastProbeTime is recent enough.
func (c *Controller) unchanged(old, cur *v1alpha1.ClusterStatus) bool {
	if old.LastProbeTime == nil || c.now().Sub(old.LastProbeTime.Time) >= c.opts.StatusRefresh {
		return false
	}
	a, b := old.DeepCopy(), cur.DeepCopy()
	a.LastProbeTime, b.LastProbeTime = nil, nil
	return apiequality.Semantic.DeepEqual(a, b)
}

func (c *Controller) recordTransition(cluster *v1alpha1.Cluster, old *v1alpha1.ClusterStatus) {
	// Ready=True is good news; CredentialsExpiring=True is a warning.
	for condType, good := range map[string]metav1.ConditionStatus{
		v1alpha1.ClusterReady: metav1.ConditionTrue, v1alpha1.ClusterCredentialsExpiring: metav1.ConditionFalse,
	} {
		was := meta.FindStatusCondition(old.Conditions, condType)
		now := meta.FindStatusCondition(cluster.Status.Conditions, condType)
		if now == nil || (was != nil && was.Status == now.Status) || (was == nil && condType != v1alpha1.ClusterReady && now.Status == good) {
			continue
		}
		kind := corev1.EventTypeNormal
		if now.Status != good {
			kind = corev1.EventTypeWarning
		}
		c.recorder.Eventf(cluster, kind, now.Reason, "%s is %s: %s", condType, now.Status, now.Message)
	}
}

var everything = labels.Everything()
