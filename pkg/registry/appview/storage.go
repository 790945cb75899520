// Package appview serves Applications and ApplicationVersions: read-only views computed
// from this replica's catalog of Repo snapshots, never stored. A rest.Storage that is not
// etcd-backed: get, list (label and field selectors, limit and continue), watch (with
// WatchList's initial events and bookmarks) and tables.
package appview

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
)

// view is what differs between the two resources.
type view struct {
	resource, singular string
	fields             []string // the field selectors (as apis/appstore/v1alpha1 registers them)
	newFunc, newList   func() runtime.Object
	entries            func(*table) []entry
	build              func(r *catalog.Repo, e entry, rv string) runtime.Object
	attrs              func(runtime.Object) (labels.Set, fields.Set)
	// unchanged, when set, tells without building objects that an entry of two
	// snapshots makes the same object.
	unchanged func(or, nr *catalog.Repo, o, n entry) bool
	table     rest.TableConvertor
}

var applications = &view{
	resource: "applications", singular: "application",
	fields:  []string{"metadata.name", "spec.repo", "spec.chart", "status.state"},
	newFunc: func() runtime.Object { return &appstore.Application{} },
	newList: func() runtime.Object { return &appstore.ApplicationList{} },
	entries: func(t *table) []entry { return t.apps },
	build:   func(r *catalog.Repo, e entry, rv string) runtime.Object { return buildApplication(r, e, rv) },
	attrs: func(o runtime.Object) (labels.Set, fields.Set) {
		a := o.(*appstore.Application)
		return a.Labels, applicationFields(a)
	},
	table: applicationTable,
}

var versions = &view{
	resource: "applicationversions", singular: "applicationversion",
	fields:  []string{"metadata.name", "spec.repo", "spec.chart", "spec.application", "spec.version", "status.state"},
	newFunc: func() runtime.Object { return &appstore.ApplicationVersion{} },
	newList: func() runtime.Object { return &appstore.ApplicationVersionList{} },
	entries: func(t *table) []entry { return t.versions },
	build:   func(r *catalog.Repo, e entry, rv string) runtime.Object { return buildVersion(r, e, rv) },
	attrs: func(o runtime.Object) (labels.Set, fields.Set) {
		v := o.(*appstore.ApplicationVersion)
		return v.Labels, versionFields(v)
	},
	unchanged: func(or, nr *catalog.Repo, o, n entry) bool {
		oc, nc := &or.Index.Charts[o.chart], &nr.Index.Charts[n.chart]
		return or.UID == nr.UID && or.Source == nr.Source && oc.Name == nc.Name && o.appLen == n.appLen &&
			sameVersion(&oc.Versions[o.version], &nc.Versions[n.version]) &&
			sameUpload(or, nr, oc.Name, oc.Versions[o.version].Version)
	},
	table: versionTable,
}

// REST is the storage of one of the two views.
type REST struct {
	view    *view
	catalog *catalog.Catalog
	tables  *tables
	gr      schema.GroupResource
	// floor is the catalog's resourceVersion when the storage was made: no older one,
	// and no newer one than the current, was handed out by this replica.
	floor uint64
	// bookmarkEvery overrides bookmarkFrequency in tests.
	bookmarkEvery time.Duration
}

// NewStorage returns the storage of applications and of applicationversions over c.
func NewStorage(c *catalog.Catalog) (apps, vers *REST) {
	ts := newTables(c)
	_, floor := c.List()
	mk := func(v *view) *REST {
		return &REST{view: v, catalog: c, tables: ts, gr: appstore.Resource(v.resource), floor: floor}
	}
	return mk(applications), mk(versions)
}

var (
	_ rest.Storage              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.TableConvertor       = &REST{}
)

func (s *REST) New() runtime.Object     { return s.view.newFunc() }
func (s *REST) NewList() runtime.Object { return s.view.newList() }
func (s *REST) Destroy()                {}
func (s *REST) NamespaceScoped() bool   { return false }
func (s *REST) GetSingularName() string { return s.view.singular }

func (s *REST) ConvertToTable(ctx context.Context, obj, opts runtime.Object) (*metav1.Table, error) {
	return s.view.table.ConvertToTable(ctx, obj, opts)
}

func formatRV(rv uint64) string { return strconv.FormatUint(rv, 10) }

// Get returns the object named name, or NotFound.
func (s *REST) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	repos, rv := s.catalog.List()
	want := repoOf(name)
	if i, ok := slices.BinarySearchFunc(repos, want, func(r *catalog.Repo, n string) int { return strings.Compare(r.Name, n) }); ok {
		r := repos[i]
		if e, ok := find(s.view.entries(s.tables.get(r)), name); ok {
			return s.view.build(r, e, formatRV(rv)), nil
		}
	}
	return nil, apierrors.NewNotFound(s.gr, name)
}

// predicate is a request's selection, with the exact matches that narrow the search.
type predicate struct {
	label      labels.Selector
	field      fields.Selector
	name, repo string
}

func (s *REST) predicate(opts *metainternalversion.ListOptions) (predicate, error) {
	p := predicate{label: labels.Everything(), field: fields.Everything()}
	if opts != nil && opts.LabelSelector != nil {
		p.label = opts.LabelSelector
	}
	if opts != nil && opts.FieldSelector != nil {
		p.field = opts.FieldSelector
	}
	// The HTTP path has already rejected other field labels (apis/appstore/v1alpha1
	// conversion.go); a direct caller gets the same answer.
	for _, r := range p.field.Requirements() {
		if !slices.Contains(s.view.fields, r.Field) {
			return p, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s (supported: %s)", r.Field, strings.Join(s.view.fields, ", ")))
		}
	}
	p.name, _ = p.field.RequiresExactMatch("metadata.name")
	if repo, ok := p.field.RequiresExactMatch("spec.repo"); ok {
		p.repo = repo
	} else if repo, ok := p.label.RequiresExactMatch(appstore.RepoLabel); ok {
		p.repo = repo
	}
	if p.name != "" && p.repo == "" {
		p.repo = repoOf(p.name)
	}
	return p, nil
}

func (p predicate) empty() bool { return p.label.Empty() && p.field.Empty() }

func (s *REST) matches(p predicate, obj runtime.Object) bool {
	l, f := s.view.attrs(obj)
	return p.label.Matches(l) && p.field.Matches(f)
}

// ordered returns repos in the order of their objects' names: every name of a Repo
// starts with "<repo>.", so sorting the Repos by that prefix sorts the names across them.
func ordered(repos []*catalog.Repo, p predicate) []*catalog.Repo {
	out := make([]*catalog.Repo, 0, len(repos))
	for _, r := range repos {
		if p.repo == "" || r.Name == p.repo {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *catalog.Repo) int { return strings.Compare(a.Name+".", b.Name+".") })
	return out
}

// candidates are the entries of t that p may select, from the first name not below start.
func (s *REST) candidates(t *table, p predicate, start string) []entry {
	es := s.view.entries(t)
	if p.name != "" {
		if e, ok := find(es, p.name); ok && e.name >= start {
			return []entry{e}
		}
		return nil
	}
	return es[search(es, start):]
}

// Messages of an expired list or continue, as k8s.io/apiserver pkg/storage/etcd3/errors.go.
const (
	listExpired          = "The resourceVersion for the provided list is too old."
	inconsistentContinue = "The provided continue parameter is too old " +
		"to display a consistent list result. You can start a new list without " +
		"the continue parameter, or use the continue token in this response to " +
		"retrieve the remainder of the results. Continuing with the provided " +
		"token results in an inconsistent list - objects that were created, " +
		"modified, or deleted between the time the first chunk was returned " +
		"and now may show up in the list."
)

// continuePrefix is the key prefix of continue tokens: the token's start key is "/" and
// the first name to list (k8s.io/apiserver pkg/storage/continue.go).
const continuePrefix = "/"

// List lists the objects p selects in name order, a page of opts.Limit at a time.
func (s *REST) List(_ context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	p, err := s.predicate(opts)
	if err != nil {
		return nil, err
	}
	repos, rv := s.catalog.List()
	start, err := s.listStart(opts, rv)
	if err != nil {
		return nil, err
	}
	rvs := formatRV(rv)
	var items []runtime.Object
	var last string
	more := false
	var remaining int64
	for _, r := range ordered(repos, p) {
		if start != "" && r.Name+"." < start && !strings.HasPrefix(start, r.Name+".") {
			continue // every name of r comes before start
		}
		es := s.candidates(s.tables.get(r), p, start)
		for i, e := range es {
			if opts.Limit > 0 && int64(len(items)) == opts.Limit {
				more = true
				remaining += int64(len(es) - i)
				break
			}
			obj := s.view.build(r, e, rvs)
			if s.matches(p, obj) {
				items = append(items, obj)
			}
			last = e.name
		}
		if more && !p.empty() {
			break // the count of what remains is unknown with selectors: stop here
		}
	}
	list := s.view.newList()
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	lm.SetResourceVersion(rvs)
	if more {
		token, err := storage.EncodeContinue(continuePrefix+last+"\x00", continuePrefix, int64(rv))
		if err != nil {
			return nil, err
		}
		lm.SetContinue(token)
		// As the etcd store: a count only when no selector makes it a guess.
		if p.empty() {
			lm.SetRemainingItemCount(&remaining)
		}
	}
	return list, nil
}

// listStart checks the request's resourceVersion and continue token against the
// catalog's rv and returns the first name to list. No history is kept: a list is served
// at the current rv only, which is what "", "0" and any not-older-than rv of this replica
// allow; an exact older rv, or one this replica never handed out (another replica's),
// answers 410 Expired, on which clients list again from scratch.
func (s *REST) listStart(opts *metainternalversion.ListOptions, rv uint64) (string, error) {
	if opts.Continue != "" {
		// As storage.ValidateListOptions (k8s.io/apiserver pkg/storage/interfaces.go).
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			return "", apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		key, tokenRV, err := storage.DecodeContinue(opts.Continue, continuePrefix)
		if err != nil {
			return "", apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
		}
		// rv -1 is the token of an inconsistent continuation, listed at the latest rv.
		if tokenRV != -1 && uint64(tokenRV) != rv {
			// As etcd3's handleCompactedErrorForPaging: 410 with a token that goes on
			// at the latest rv.
			status := apierrors.NewResourceExpired(inconsistentContinue)
			if token, err := storage.EncodeContinue(key, continuePrefix, -1); err == nil {
				status.ErrStatus.ListMeta.Continue = token
			}
			return "", status
		}
		return strings.TrimPrefix(key, continuePrefix), nil
	}
	if opts.ResourceVersion == "" || opts.ResourceVersion == "0" {
		return "", nil
	}
	asked, err := strconv.ParseUint(opts.ResourceVersion, 10, 64)
	if err != nil {
		return "", apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %v", err))
	}
	ok := asked >= s.floor && asked <= rv
	if opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
		ok = asked == rv
	}
	if !ok {
		return "", apierrors.NewResourceExpired(listExpired)
	}
	return "", nil
}
