// Package catalog is what this cluster-apiserver replica knows of every Repo's charts: the
// snapshot of its last good sync. The syncers put snapshots in; the Application and
// ApplicationVersion views read them and are told of every change. Objects are built from
// the compact snapshots on demand, never kept.
package catalog

import (
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Repo is one Repo's charts as last synced.
type Repo struct {
	Name   string
	UID    types.UID
	Source appstore.RepoSource
	// Index is the parsed index (or, for OCI, the listed tags in the same form).
	Index *index.Snapshot
	// Digest is the digest of what Index was parsed from.
	Digest string
	// Synced is when Index was read.
	Synced time.Time
	// Uploads are the review facts of an Upload repo's versions, by UploadKey; nil for
	// the other sources, whose versions are all Active.
	Uploads map[string]*Upload
}

// Upload is what an uploaded version has beyond its index entry.
type Upload struct {
	// Revision changes whenever anything below does (the stored record's resourceVersion).
	Revision string
	// Labels and Annotations are the version's own (the uploader's among them).
	Labels, Annotations map[string]string
	Status              appstore.ApplicationVersionStatus
}

// UploadKey is the key of a chart version in Repo.Uploads.
func UploadKey(chart, version string) string { return chart + "/" + version }

// State is the review state of version of chart: Active for every version of an Index or
// OCI repo, the recorded state of an uploaded one.
func (r *Repo) State(chart, version string) appstore.AppState {
	if r.Source != appstore.RepoSourceUpload {
		return appstore.AppStateActive
	}
	if u := r.Uploads[UploadKey(chart, version)]; u != nil {
		return u.Status.State
	}
	return appstore.AppStateDraft
}

// Change says which Repo's charts changed; Repo is nil when the Repo's charts are gone.
type Change struct {
	Name            string
	Old, New        *Repo
	ResourceVersion uint64
}

// Catalog holds the Repos' snapshots of this replica. Its resourceVersion counts
// changes; it means nothing on another replica.
type Catalog struct {
	mu       sync.RWMutex
	repos    map[string]*Repo
	rv       uint64
	watchers map[int]chan<- Change
	next     int
}

// New returns an empty catalog whose resourceVersions start above start, so that two runs
// of a replica do not hand out the same numbers for different contents.
func New(start uint64) *Catalog {
	return &Catalog{repos: map[string]*Repo{}, rv: start, watchers: map[int]chan<- Change{}}
}

// Put records r as its Repo's current charts.
func (c *Catalog) Put(r *Repo) { c.change(r.Name, r) }

// Delete forgets the charts of the Repo named name.
func (c *Catalog) Delete(name string) { c.change(name, nil) }

func (c *Catalog) change(name string, r *Repo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.repos[name]
	if old == nil && r == nil {
		return
	}
	if r == nil {
		delete(c.repos, name)
	} else {
		c.repos[name] = r
	}
	c.rv++
	ch := Change{Name: name, Old: old, New: r, ResourceVersion: c.rv}
	for id, w := range c.watchers {
		select {
		case w <- ch:
		default:
			// A watcher that does not keep up is closed rather than buffered without
			// bound; its client lists again.
			close(w)
			delete(c.watchers, id)
		}
	}
}

// Get returns the Repo named name.
func (c *Catalog) Get(name string) (*Repo, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.repos[name]
	return r, ok
}

// List returns every Repo, sorted by name, and the resourceVersion they are current at.
func (c *Catalog) List() ([]*Repo, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Repo, 0, len(c.repos))
	for _, r := range c.repos {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, c.rv
}

// Watch lists like List and subscribes to every later change, atomically: no change falls
// between the list and the first event. The channel holds up to buffer changes and is
// closed if it overflows; stop ends the subscription.
func (c *Catalog) Watch(buffer int) (repos []*Repo, rv uint64, changes <-chan Change, stop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan Change, buffer)
	id := c.next
	c.next++
	c.watchers[id] = ch
	repos = make([]*Repo, 0, len(c.repos))
	for _, r := range c.repos {
		repos = append(repos, r)
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if _, ok := c.watchers[id]; ok {
				delete(c.watchers, id)
				close(ch)
			}
		})
	}
	return repos, c.rv, ch, stop
}
