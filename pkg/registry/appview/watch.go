package appview

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"

	"kubesphere.io/multicluster/pkg/appstore/catalog"
)

const (
	// watchBuffer is how many catalog changes (each a whole Repo's) a watcher may fall
	// behind by before the catalog closes it; its client then watches again, or lists.
	watchBuffer = 64
	// bookmarkFrequency is as the watch cache's (k8s.io/apiserver pkg/storage/cacher).
	bookmarkFrequency = time.Minute
)

// Watch streams the changes of the objects opts selects. Following the watch cache
// (k8s.io/apiserver pkg/storage/cacher/cacher.go Watch, watch_cache.go
// getAllEventsSinceLocked):
//   - resourceVersion "" or "0" without sendInitialEvents: ADDED for every object, then
//     the changes (the legacy "current state first" watch);
//   - sendInitialEvents=true: ADDED for every object, then, with allowWatchBookmarks, a
//     BOOKMARK annotated k8s.io/initial-events-end at the rv they are current at;
//   - sendInitialEvents=false, or the current rv: only the changes from now.
//
// No history is kept, so a watch from any other rv (older, or another replica's) fails
// with a watch event of type ERROR carrying 410 Expired, as the cacher answers a too old
// rv once the request was admitted; an unparsable rv or selector is an error.
func (s *REST) Watch(ctx context.Context, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	p, err := s.predicate(opts)
	if err != nil {
		return nil, err
	}
	var asked uint64
	numeric := opts.ResourceVersion != "" && opts.ResourceVersion != "0"
	if numeric {
		if asked, err = strconv.ParseUint(opts.ResourceVersion, 10, 64); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %v", err))
		}
	}
	repos, rv, changes, stop := s.catalog.Watch(watchBuffer)
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if numeric {
		// With sendInitialEvents the rv means "not older than": the current state does.
		ok := asked == rv
		if sendInitial {
			ok = asked >= s.floor && asked <= rv
		}
		if !ok {
			stop()
			return newErrWatcher(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", asked, rv))), nil
		}
	}
	w := &watcher{result: make(chan watch.Event), done: make(chan struct{})}
	deadline, _ := ctx.Deadline()
	go w.run(ctx, s, p, stop, changes, deadline, watchRun{
		repos: repos, rv: rv,
		initial:     sendInitial || (opts.SendInitialEvents == nil && !numeric),
		endBookmark: sendInitial && opts.AllowWatchBookmarks,
		bookmarks:   opts.AllowWatchBookmarks,
	})
	return w, nil
}

type watchRun struct {
	repos                           []*catalog.Repo
	rv                              uint64
	initial, endBookmark, bookmarks bool
}

type watcher struct {
	result chan watch.Event
	done   chan struct{}
	once   sync.Once
}

func (w *watcher) Stop()                          { w.once.Do(func() { close(w.done) }) }
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

func (w *watcher) run(ctx context.Context, s *REST, p predicate, stop func(), changes <-chan catalog.Change, deadline time.Time, o watchRun) {
	defer close(w.result)
	defer stop()
	send := func(ev watch.Event) bool {
		select {
		case w.result <- ev:
			return true
		case <-w.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
	if o.initial {
		rvs := formatRV(o.rv)
		for _, r := range ordered(o.repos, p) {
			for _, e := range s.candidates(s.tables.get(r), p, "") {
				if obj := s.view.build(r, e, rvs); s.matches(p, obj) && !send(watch.Event{Type: watch.Added, Object: obj}) {
					return
				}
			}
		}
		if o.endBookmark && !send(s.bookmark(o.rv, true)) {
			return
		}
	}
	every := bookmarkFrequency
	if s.bookmarkEvery > 0 {
		every = s.bookmarkEvery
	}
	var tick <-chan time.Time
	var timer *time.Timer
	arm := func() {
		if d, ok := nextBookmark(time.Now(), deadline, every); ok {
			timer = time.NewTimer(d)
			tick = timer.C
		} else {
			tick = nil
		}
	}
	if o.bookmarks {
		arm()
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
	}
	last := o.rv
	for {
		select {
		case ch, ok := <-changes:
			if !ok {
				return // the catalog dropped this watcher (it fell behind): the client watches again
			}
			last = ch.ResourceVersion
			if !s.diff(ch, p, send) {
				return
			}
		case <-tick:
			if !send(s.bookmark(last, false)) {
				return
			}
			arm()
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// nextBookmark is when the next bookmark is due, as the cacher's cacheWatcher does it: every
// frequency, and once shortly before the watch times out.
func nextBookmark(now, deadline time.Time, every time.Duration) (time.Duration, bool) {
	if deadline.IsZero() || now.Add(every).Before(deadline) {
		return every, true
	}
	if pre := deadline.Add(-2 * time.Second); pre.After(now) {
		return pre.Sub(now), true
	}
	return 0, false
}

// bookmark is a BOOKMARK event at rv: an empty object of the kind with only its
// resourceVersion, annotated when it ends the initial events.
func (s *REST) bookmark(rv uint64, initialEnd bool) watch.Event {
	obj := s.view.newFunc()
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(formatRV(rv))
	}
	if initialEnd {
		if err := storage.AnnotateInitialEventsEndBookmark(obj); err != nil {
			klog.ErrorS(err, "Annotating the initial-events-end bookmark", "resource", s.gr)
		}
	}
	return watch.Event{Type: watch.Bookmark, Object: obj}
}

// diff sends the events of one catalog change: the objects of the old and the new
// snapshot compared name by name. As the cacher's convertToWatchEvent, an object that
// starts or stops matching the selectors is ADDED or DELETED for this watcher, and a
// DELETED event carries the last state at the change's rv. It returns false once send
// does.
func (s *REST) diff(ch catalog.Change, p predicate, send func(watch.Event) bool) bool {
	if p.repo != "" && ch.Name != p.repo {
		return true
	}
	o, n := ch.Old, ch.New
	if o != nil && n != nil && o.Index == n.Index && o.UID == n.UID && o.Source == n.Source {
		return true // a new sync of the same snapshot
	}
	var olds, news []entry
	if o != nil {
		olds = s.candidates(s.tables.get(o), p, "")
	}
	if n != nil {
		news = s.candidates(s.tables.get(n), p, "")
	}
	rv := formatRV(ch.ResourceVersion)
	build := func(r *catalog.Repo, e entry) (runtime.Object, bool) {
		obj := s.view.build(r, e, rv)
		return obj, s.matches(p, obj)
	}
	for i, j := 0, 0; i < len(olds) || j < len(news); {
		switch {
		case j == len(news) || (i < len(olds) && olds[i].name < news[j].name):
			if obj, ok := build(o, olds[i]); ok && !send(watch.Event{Type: watch.Deleted, Object: obj}) {
				return false
			}
			i++
		case i == len(olds) || news[j].name < olds[i].name:
			if obj, ok := build(n, news[j]); ok && !send(watch.Event{Type: watch.Added, Object: obj}) {
				return false
			}
			j++
		default:
			oe, ne := olds[i], news[j]
			i++
			j++
			if s.view.unchanged != nil && s.view.unchanged(o, n, oe, ne) {
				continue
			}
			oldObj, oldOK := build(o, oe)
			newObj, newOK := build(n, ne)
			if apiequality.Semantic.DeepEqual(oldObj, newObj) {
				continue
			}
			var ev watch.Event
			switch {
			case oldOK && newOK:
				ev = watch.Event{Type: watch.Modified, Object: newObj}
			case newOK:
				ev = watch.Event{Type: watch.Added, Object: newObj}
			case oldOK:
				ev = watch.Event{Type: watch.Deleted, Object: oldObj}
			default:
				continue
			}
			if !send(ev) {
				return false
			}
		}
	}
	return true
}

// errWatcher is a watch of a single ERROR event, as the cacher's.
type errWatcher struct{ result chan watch.Event }

func newErrWatcher(err error) *errWatcher {
	ev := watch.Event{Type: watch.Error}
	if se, ok := err.(*apierrors.StatusError); ok {
		ev.Object = &se.ErrStatus
	} else {
		ev.Object = &metav1.Status{Status: metav1.StatusFailure, Message: err.Error(),
			Reason: metav1.StatusReasonInternalError, Code: http.StatusInternalServerError}
	}
	w := &errWatcher{result: make(chan watch.Event, 1)}
	w.result <- ev
	close(w.result)
	return w
}

func (w *errWatcher) Stop()                          {}
func (w *errWatcher) ResultChan() <-chan watch.Event { return w.result }
