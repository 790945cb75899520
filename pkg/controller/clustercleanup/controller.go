// Package clustercleanup keeps a finalizer on every Cluster and, when a Cluster is
// deleted, removes what joining created for it on the host before letting it go. The
// member itself is left untouched: that takes its own credentials (kubectl ksmc unjoin).
package clustercleanup

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	clusterinformers "kubesphere.io/multicluster/generated/informers/externalversions/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/pkg/controller/internal/workers"
)

// Controller adds clustersapi.CleanupFinalizer and acts on it.
type Controller struct {
	client clientset.Interface
	host   kubernetes.Interface
	// tokenNamespace holds Agent clusters' token Secrets.
	tokenNamespace string
	clusters       clusterlisters.ClusterLister
	synced         cache.InformerSynced
	queue          workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller; Run starts it. Agent clusters' tokens live in tokenNamespace.
func New(client clientset.Interface, host kubernetes.Interface, tokenNamespace string, informer clusterinformers.ClusterInformer) (*Controller, error) {
	c := &Controller{
		client: client, host: host, tokenNamespace: tokenNamespace, clusters: informer.Lister(), synced: informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "clustercleanup"}),
	}
	enqueue := func(obj any) {
		if cl, ok := obj.(*v1alpha1.Cluster); ok && needsWork(cl) {
			c.queue.Add(cl.Name)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return c, err
}

// needsWork: a live Cluster without the finalizer, or a deleted one with it.
func needsWork(cl *v1alpha1.Cluster) bool {
	has := slices.Contains(cl.Finalizers, clustersapi.CleanupFinalizer)
	return has == (cl.DeletionTimestamp != nil)
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, n int) {
	workers.Run(ctx, n, c.synced, c.queue.ShutDown, c.work)
}

func (c *Controller) work(ctx context.Context) {
	for {
		name, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, name); err != nil {
			klog.ErrorS(err, "Cleaning up cluster", "cluster", name)
			c.queue.AddRateLimited(name)
		} else {
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
}

func (c *Controller) sync(ctx context.Context, name string) error {
	cluster, err := c.clusters.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if !needsWork(cluster) {
		return nil
	}
	updated := cluster.DeepCopy()
	if cluster.DeletionTimestamp == nil {
		updated.Finalizers = append(updated.Finalizers, clustersapi.CleanupFinalizer)
	} else {
		if err := c.cleanUp(ctx, cluster); err != nil {
			return err
		}
		updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == clustersapi.CleanupFinalizer })
	}
	_, err = c.client.ClustersV1alpha1().Clusters().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// cleanUp revokes an Agent cluster's token (closing its tunnels) and deletes the
// credentials Secret join made for this Cluster; a Secret someone else made (and may
// share) stays.
func (c *Controller) cleanUp(ctx context.Context, cluster *v1alpha1.Cluster) error {
	if revoked, err := agenttoken.Revoke(ctx, c.host, c.tokenNamespace, cluster.Name); err != nil {
		return err
	} else if revoked {
		klog.InfoS("Revoked the agent token of a deleted cluster", "cluster", cluster.Name)
	}
	ref := cluster.Spec.Connection.CredentialsSecretRef
	if ref == nil {
		return nil
	}
	secret, err := c.host.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading credentials Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if secret.Labels[clustersapi.ManagedByLabel] != clustersapi.ManagedBy || secret.Labels[clustersapi.ClusterLabel] != cluster.Name {
		return nil
	}
	err = c.host.CoreV1().Secrets(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &secret.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting credentials Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	klog.InfoS("Deleted the credentials of a deleted cluster", "cluster", cluster.Name, "secret", ref.Namespace+"/"+ref.Name)
	return nil
}
