package upload

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Run keeps this replica's catalog of Upload repos current with the stored records until
// ctx ends: a list, then a watch from its revision, listed again whenever the watch ends.
func (s *Store) Run(ctx context.Context) {
	// Until the Repos are known every version would look like one of a deleted Repo.
	if !cache.WaitForCacheSync(ctx.Done(), s.cfg.ReposSynced) {
		return
	}
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	for ctx.Err() == nil {
		rev, err := s.list(ctx)
		if err == nil {
			err = s.watch(ctx, rev)
		}
		if err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Watching uploaded charts; listing again")
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) list(ctx context.Context) (uint64, error) {
	list := &appstore.ApplicationVersionList{}
	if err := s.cfg.Records.GetList(ctx, s.cfg.RecordsPrefix, storage.ListOptions{Recursive: true, Predicate: storage.Everything}, list); err != nil {
		return 0, err
	}
	rev, err := strconv.ParseUint(list.ResourceVersion, 10, 64)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	for _, r := range s.records {
		s.dirty[r.Spec.Repo] = true
	}
	s.records = make(map[string]*appstore.ApplicationVersion, len(list.Items))
	for i := range list.Items {
		r := &list.Items[i]
		s.records[r.Name] = r
		s.dirty[r.Spec.Repo] = true
	}
	s.mu.Unlock()
	s.advance(rev)
	return rev, nil
}

func (s *Store) watch(ctx context.Context, rev uint64) error {
	w, err := s.cfg.Records.Watch(ctx, s.cfg.RecordsPrefix, storage.ListOptions{
		ResourceVersion: strconv.FormatUint(rev, 10), Recursive: true, Predicate: storage.Everything, ProgressNotify: true})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if ev.Type == watch.Error {
				return storageError(ev.Object)
			}
			r, ok := ev.Object.(*appstore.ApplicationVersion)
			if !ok {
				continue
			}
			rv, _ := strconv.ParseUint(r.ResourceVersion, 10, 64)
			s.mu.Lock()
			switch ev.Type {
			case watch.Added, watch.Modified:
				s.records[r.Name] = r
				s.dirty[r.Spec.Repo] = true
			case watch.Deleted:
				delete(s.records, r.Name)
				s.dirty[r.Spec.Repo] = true
			}
			s.mu.Unlock()
			s.advance(rv)
		}
	}
}

type watchError struct{ status *metav1.Status }

func (e *watchError) Error() string { return e.status.Message }

func storageError(obj runtime.Object) error {
	if st, ok := obj.(*metav1.Status); ok {
		return &watchError{st}
	}
	return &watchError{&metav1.Status{Message: "watch error"}}
}

// advance publishes the Repos changed up to revision rev and wakes the waiters.
func (s *Store) advance(rev uint64) {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = map[string]bool{}
	s.mu.Unlock()
	for repo := range dirty {
		s.Refresh(repo)
	}
	s.mu.Lock()
	if rev > s.seen {
		s.seen = rev
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Wait returns once this replica's catalog holds what was stored at revision rev, or when
// ctx ends (the write is stored either way: only the views may lag behind).
func (s *Store) Wait(ctx context.Context, rev uint64) {
	for {
		s.mu.Lock()
		seen, changed := s.seen, s.changed
		s.mu.Unlock()
		if seen >= rev {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// waitGone returns once this replica's records no longer hold name, or when ctx ends.
func (s *Store) waitGone(ctx context.Context, name string) {
	for {
		s.mu.Lock()
		_, there := s.records[name]
		changed := s.changed
		s.mu.Unlock()
		if !there {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// Refresh puts the current snapshot of the Repo named name in the catalog, if it is an
// Upload repo (the Repo informer calls it too, for a Repo made or deleted). The versions
// of a Repo deleted, or of an older Repo of the same name, are not shown, and are removed.
func (s *Store) Refresh(name string) {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return // Run refreshes every Repo it lists
	}
	repo, err := s.cfg.Repos.Get(name)
	if err != nil || repo.Spec.Source != v1alpha1.RepoSourceUpload {
		if r, ok := s.cfg.Catalog.Get(name); ok && r.Source == appstore.RepoSourceUpload {
			s.cfg.Catalog.Delete(name)
		}
		if err == nil || !apierrors.IsNotFound(err) {
			return
		}
		repo = nil
	}
	s.mu.Lock()
	var mine, stale []*appstore.ApplicationVersion
	young := false
	for _, r := range s.records {
		if r.Spec.Repo != name {
			continue
		}
		switch {
		case repo != nil && types.UID(r.Annotations[repoUIDAnnotation]) == repo.UID:
			mine = append(mine, r)
		case repo != nil && r.CreationTimestamp.Before(&repo.CreationTimestamp):
			// Made in an older Repo of this name.
			stale = append(stale, r.DeepCopy())
		case time.Since(r.CreationTimestamp.Time) < collectGrace:
			// Of a Repo this replica does not know (yet): its Repos may lag behind the
			// replica that made it. Looked at again later.
			young = true
		default:
			stale = append(stale, r.DeepCopy())
		}
	}
	s.mu.Unlock()
	if len(stale) > 0 {
		go s.collect(stale)
	}
	if young {
		time.AfterFunc(collectGrace, func() { s.Refresh(name) })
	}
	if repo == nil {
		return
	}
	s.cfg.Catalog.Put(snapshot(repo, mine))
}

// collectGrace is how old a record must be before it is taken for one of a deleted Repo.
const collectGrace = 2 * time.Minute

// collect deletes the versions of deleted Repos, each only as this replica saw it (UID and
// resourceVersion preconditions): every replica may do it, the first wins, and a record
// made again meanwhile is left.
func (s *Store) collect(records []*appstore.ApplicationVersion) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, r := range records {
		name, uid, rv := r.Name, r.UID, r.ResourceVersion
		out := &appstore.ApplicationVersion{}
		if err := s.cfg.Records.Delete(ctx, s.recordKey(name), out, &storage.Preconditions{UID: &uid, ResourceVersion: &rv},
			storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
			continue
		}
		if a := out.Annotations[archiveAnnotation]; a != "" {
			s.deleteChunks(name, a, chunkCount(out.Status.ChartSize))
		}
		klog.InfoS("Deleted an uploaded chart version of a deleted Repo", "version", name, "repo", out.Spec.Repo)
	}
}

// snapshot is the catalog entry of an Upload repo: its versions as an index would list
// them, and their review facts.
func snapshot(repo *v1alpha1.Repo, records []*appstore.ApplicationVersion) *catalog.Repo {
	byChart := map[string]*index.Chart{}
	uploads := make(map[string]*catalog.Upload, len(records))
	for _, r := range records {
		c := byChart[r.Spec.Chart]
		if c == nil {
			c = &index.Chart{Name: r.Spec.Chart}
			byChart[r.Spec.Chart] = c
		}
		v := index.Version{Version: r.Spec.Version, AppVersion: r.Spec.AppVersion, Description: r.Spec.Description,
			KubeVersion: r.Spec.KubeVersion, Created: r.CreationTimestamp.UnixNano(), Deprecated: r.Spec.Deprecated}
		if d, ok := decodeDigest(r.Spec.Digest); ok {
			v.Digest = d
		}
		c.Versions = append(c.Versions, v)
		annotations := map[string]string{}
		for k, v := range r.Annotations {
			if k != repoUIDAnnotation && k != archiveAnnotation {
				annotations[k] = v
			}
		}
		uploads[catalog.UploadKey(r.Spec.Chart, r.Spec.Version)] = &catalog.Upload{
			Revision: r.ResourceVersion, Labels: r.Labels, Annotations: annotations, Status: *r.Status.DeepCopy()}
	}
	charts := make([]index.Chart, 0, len(byChart))
	for _, c := range byChart {
		charts = append(charts, *c)
	}
	return &catalog.Repo{Name: repo.Name, UID: repo.UID, Source: appstore.RepoSourceUpload,
		Index: index.Assemble(charts, 0), Synced: time.Now(), Uploads: uploads}
}

func decodeDigest(s string) (d [32]byte, ok bool) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "sha256:"))
	if err != nil || len(b) != len(d) {
		return d, false
	}
	copy(d[:], b)
	return d, true
}
