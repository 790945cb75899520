package appview

import (
	"strings"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Found is a chart version of the catalog, as a release names it.
type Found struct {
	// Name is the ApplicationVersion's name.
	Name    string
	Repo    *catalog.Repo
	Chart   *index.Chart
	Version *index.Version
	// State is the version's review state; only Active versions are installed.
	State appstore.AppState
}

// FindVersion looks up the exact version string of the Application named application in
// this replica's catalog. Release admission and installs name versions this way, as Helm
// users do, not by the computed ApplicationVersion name.
func (s *REST) FindVersion(application, version string) (Found, bool) {
	r, ok := s.catalog.Get(repoOf(application))
	if !ok || r.Index == nil {
		return Found{}, false
	}
	t := s.tables.get(r)
	app, ok := find(t.apps, application)
	if !ok {
		return Found{}, false
	}
	chart := &r.Index.Charts[app.chart]
	want := -1
	for j := range chart.Versions {
		if chart.Versions[j].Version == version {
			want = j
			break
		}
	}
	if want < 0 {
		return Found{}, false
	}
	// The chart's versions are named after the Application's name and a dot; other charts
	// may share that prefix (names hold dots), so match the entry, not the name.
	prefix := application + "."
	for i := search(t.versions, prefix); i < len(t.versions) && strings.HasPrefix(t.versions[i].name, prefix); i++ {
		if e := t.versions[i]; e.chart == app.chart && e.version == want {
			return Found{Name: e.name, Repo: r, Chart: chart, Version: &chart.Versions[want], State: r.State(chart.Name, version)}, true
		}
	}
	return Found{}, false
}

// versionNamed looks up the ApplicationVersion named name, as Get does, for the
// subresources of applicationversions.
func (s *REST) versionNamed(name string) (Found, bool) {
	r, ok := s.catalog.Get(repoOf(name))
	if !ok || r.Index == nil {
		return Found{}, false
	}
	e, ok := find(s.tables.get(r).versions, name)
	if !ok || e.version < 0 {
		return Found{}, false
	}
	chart := &r.Index.Charts[e.chart]
	v := &chart.Versions[e.version]
	return Found{Name: e.name, Repo: r, Chart: chart, Version: v, State: r.State(chart.Name, v.Version)}, true
}
