package reposync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	appstoreinformers "kubesphere.io/multicluster/generated/informers/externalversions/appstore/v1alpha1"
	appstorelisters "kubesphere.io/multicluster/generated/listers/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Defaults of a Repo whose spec leaves them out (the API defaults them; these guard a
// Repo stored before the defaults existed).
const (
	defaultInterval = time.Hour
	defaultMaxIndex = 50 << 20
	fetchTimeout    = time.Minute
)

// Syncer keeps the catalog of this replica current with every Repo's source, and writes
// what it found to the Repo's status. Every replica syncs for itself: each serves the
// views from its own snapshots, and a replica without the data must not be told "not
// modified".
type Syncer struct {
	client   clientset.Interface
	repos    appstorelisters.RepoLister
	synced   cache.InformerSynced
	secrets  corelisters.SecretLister
	secretNS string
	catalog  *catalog.Catalog
	queue    workqueue.TypedRateLimitingInterface[string]

	mu   sync.Mutex
	last map[string]lastRead // per Repo: what this replica read last
	oci  map[string]*ociState
	// parse allows one index parse at a time: a 15 MB index is the largest memory
	// cost of a sync.
	parse sync.Mutex

	// Chart archives (chart.go): verified ones by digest, the download slots, the
	// size limit.
	charts    *chartCache
	downloads chan struct{}
	maxChart  int64
	// uploads serves the charts of Upload repos; nil: none.
	uploads Uploads
}

// lastRead is what a conditional read and the status need from the previous sync.
type lastRead struct {
	generation int64
	validators validators
	changed    metav1.Time
}

// New returns a Syncer of the Repos informer sees; Secrets named by Repos are read from
// secrets in namespace.
func New(client clientset.Interface, informer appstoreinformers.RepoInformer, secrets corelisters.SecretLister, namespace string, c *catalog.Catalog) (*Syncer, error) {
	s := &Syncer{
		client: client, repos: informer.Lister(), synced: informer.Informer().HasSynced,
		secrets: secrets, secretNS: namespace, catalog: c,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Second, 10*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "appstore-repos"}),
		last:      map[string]lastRead{},
		charts:    newChartCache(defaultChartCache, chartTimeout),
		downloads: make(chan struct{}, chartDownloads),
		maxChart:  defaultMaxChart,
		oci:       map[string]*ociState{},
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, obj any) {
			o, n := old.(*v1alpha1.Repo), obj.(*v1alpha1.Repo)
			// Its own status writes do not call for another read; a spec change or a
			// sync request (the annotation, or status.syncRequestTime) does.
			if o.Generation != n.Generation || !n.Status.SyncRequestTime.Equal(o.Status.SyncRequestTime) ||
				o.Annotations[appstore.SyncAnnotation] != n.Annotations[appstore.SyncAnnotation] {
				enqueue(obj)
			}
		},
		DeleteFunc: enqueue,
	})
	return s, err
}

// Run syncs with workers until ctx ends.
func (s *Syncer) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer s.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced) {
		return
	}
	for range workers {
		go func() {
			for s.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
}

func (s *Syncer) next(ctx context.Context) bool {
	name, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(name)
	after, err := s.sync(ctx, name)
	switch {
	case err != nil:
		klog.FromContext(ctx).V(2).Info("Repo sync failed", "repo", name, "err", err)
		s.queue.AddRateLimited(name)
	default:
		s.queue.Forget(name)
		if after > 0 {
			s.queue.AddAfter(name, after)
		}
	}
	return true
}

// sync reads one Repo's source and reports it; it returns when to read again. An error is
// only for what a retry may fix (a status write that failed): a source that fails is a
// condition, retried at the Repo's pace with backoff.
func (s *Syncer) sync(ctx context.Context, name string) (time.Duration, error) {
	repo, err := s.repos.Get(name)
	if apierrors.IsNotFound(err) {
		s.catalog.Delete(name)
		s.mu.Lock()
		delete(s.last, name)
		delete(s.oci, name)
		s.mu.Unlock()
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	interval := defaultInterval
	if repo.Spec.SyncInterval != nil && repo.Spec.SyncInterval.Duration > 0 {
		interval = repo.Spec.SyncInterval.Duration
	}
	// +-10%, so that Repos made together are not read together forever.
	next := time.Duration(float64(interval) * (0.9 + 0.2*rand.Float64()))
	read := s.read
	switch repo.Spec.Source {
	case v1alpha1.RepoSourceIndex:
	case v1alpha1.RepoSourceOCI:
		read = s.readOCI
	default:
		// Upload repos have nothing to read.
		return 0, s.writeStatus(ctx, repo, nil, unsupportedSource(repo))
	}
	s.mu.Lock()
	last := s.last[name]
	s.mu.Unlock()
	if last.generation != repo.Generation {
		last.validators = validators{} // a new URL or CA: read it whole
	}
	result, err := read(ctx, repo, last)
	if err != nil {
		return next, s.writeStatus(ctx, repo, nil, err)
	}
	return next, s.writeStatus(ctx, repo, result, nil)
}

// readResult is a successful read.
type readResult struct {
	changed    bool
	slow       bool
	size       int64
	charts     int
	versions   int
	skipped    int
	digest     string
	changeTime metav1.Time
}

func (s *Syncer) read(ctx context.Context, repo *v1alpha1.Repo, last lastRead) (*readResult, error) {
	client, err := s.repoClient(repo, fetchTimeout)
	if err != nil {
		return nil, err
	}
	target, err := indexURL(repo.Spec.URL)
	if err != nil {
		return nil, failed(appstore.RepoReasonInvalidIndex, "spec.url %q: %v", repo.Spec.URL, err)
	}
	maxBytes := int64(defaultMaxIndex)
	if q := repo.Spec.MaxIndexSize; q != nil && q.Value() > 0 {
		maxBytes = q.Value()
	}
	prev, havePrev := s.catalog.Get(repo.Name)
	if !havePrev {
		// Only a replica that holds the charts may be told "not modified".
		last.validators = validators{}
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	got, err := fetchIndex(ctx, client, target, last.validators, maxBytes)
	if err != nil {
		return nil, err
	}
	if havePrev && (got.notModified || (got.digest == prev.Digest && last.generation == repo.Generation)) {
		charts, versions := prev.Index.Counts()
		s.remember(repo, got.validators, last.changed)
		return &readResult{size: repo.Status.IndexSize, charts: charts, versions: versions, skipped: prev.Index.Skipped,
			digest: prev.Digest, changeTime: last.changed}, nil
	}
	s.parse.Lock()
	snap, slow, err := index.Load(got.body)
	s.parse.Unlock()
	if err != nil {
		return nil, failed(appstore.RepoReasonInvalidIndex, "%s: %v", target, err)
	}
	now := metav1.Now()
	s.catalog.Put(&catalog.Repo{Name: repo.Name, UID: repo.UID, Source: appstore.RepoSource(repo.Spec.Source),
		Index: snap, Digest: got.digest, Synced: now.Time})
	s.remember(repo, got.validators, now)
	charts, versions := snap.Counts()
	return &readResult{changed: true, slow: slow, size: int64(len(got.body)), charts: charts, versions: versions,
		skipped: snap.Skipped, digest: got.digest, changeTime: now}, nil
}

func (s *Syncer) remember(repo *v1alpha1.Repo, v validators, changed metav1.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[repo.Name] = lastRead{generation: repo.Generation, validators: v, changed: changed}
}

func unsupportedSource(repo *v1alpha1.Repo) error {
	if repo.Spec.Source == v1alpha1.RepoSourceUpload {
		return nil
	}
	return failed("SourceNotSupported", "this version of cluster-apiserver does not sync %s repositories yet", repo.Spec.Source)
}

// writeStatus records a sync's outcome; the last good counts stay when a read fails.
func (s *Syncer) writeStatus(ctx context.Context, repo *v1alpha1.Repo, r *readResult, failure error) error {
	status := repo.Status.DeepCopy()
	status.ObservedGeneration = repo.Generation
	now := metav1.Now()
	cond := metav1.Condition{Type: appstore.RepoSynced, ObservedGeneration: repo.Generation}
	switch {
	case failure != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reasonOf(failure), failure.Error()
	case r == nil: // an Upload repo: always current
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, appstore.RepoReasonSynced, "uploaded charts need no sync"
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, appstore.RepoReasonSynced
		cond.Message = fmt.Sprintf("%d charts, %d versions", r.charts, r.versions)
		if r.slow {
			cond.Reason = appstore.RepoReasonSlowParse
			cond.Message += "; the index uses YAML the fast parser does not read, so it was parsed the slow way"
		}
		status.LastSyncTime = &now
		if !r.changeTime.IsZero() {
			status.LastChangeTime = &r.changeTime
		}
		status.IndexDigest, status.IndexSize = r.digest, r.size
		status.ChartCount, status.VersionCount, status.SkippedEntries = int32(r.charts), int32(r.versions), int32(r.skipped)
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	updated := repo.DeepCopy()
	updated.Status = *status
	_, err := s.client.AppstoreV1alpha1().Repos().UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: "cluster-apiserver"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
