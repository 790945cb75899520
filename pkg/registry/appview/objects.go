package appview

import (
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/catalog"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Objects are built from a snapshot on demand and handed to the generic server, which
// converts them to the requested version: internal types, no TypeMeta.

// uid is the object's UID: UUIDv5 within the Repo's UID, so that a re-created Repo's
// objects are new objects and the same chart always has the same UID.
func uid(repo types.UID, name string) types.UID {
	space, err := uuid.Parse(string(repo))
	if err != nil {
		space = uuid.NewSHA1(uuid.NameSpaceURL, []byte("appstore.kubesphere.io/repo/"+string(repo)))
	}
	return types.UID(uuid.NewSHA1(space, []byte(name)).String())
}

func objectLabels(repo, chart string) map[string]string {
	l := map[string]string{appstore.RepoLabel: repo}
	if len(validation.IsValidLabelValue(chart)) == 0 {
		l[appstore.AppLabel] = chart
	}
	return l
}

// timeOf converts an index time (unix nanoseconds, 0 unknown).
func timeOf(ns int64) metav1.Time {
	if ns == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Unix(0, ns).UTC())
}

func timePtr(ns int64) *metav1.Time {
	if ns == 0 {
		return nil
	}
	t := timeOf(ns)
	return &t
}

func digest(v *index.Version) string {
	if !v.HasDigest() {
		return ""
	}
	return "sha256:" + hex.EncodeToString(v.Digest[:])
}

// buildApplication is the Application of chart e.chart of r.
func buildApplication(r *catalog.Repo, e entry, rv string) *appstore.Application {
	c := &r.Index.Charts[e.chart]
	app := &appstore.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name: e.name, UID: uid(r.UID, c.Name), ResourceVersion: rv, Labels: objectLabels(r.Name, c.Name),
		},
		Spec: appstore.ApplicationSpec{
			Repo: r.Name, Chart: c.Name, Description: c.Description, Icon: c.Icon, Home: c.Home,
			Keywords: slices.Clone(c.Keywords), Sources: slices.Clone(c.Sources),
		},
		Status: appstore.ApplicationStatus{VersionCount: int32(len(c.Versions)), State: appstore.AppStateActive},
	}
	for _, m := range c.Maintainers {
		app.Spec.Maintainers = append(app.Spec.Maintainers, appstore.Maintainer{Name: m.Name, Email: m.Email, URL: m.URL})
	}
	if len(c.Versions) > 0 {
		newest := &c.Versions[0]
		app.Status.LatestVersion, app.Status.LatestAppVersion = newest.Version, newest.AppVersion
		app.Status.Deprecated, app.Status.Updated = newest.Deprecated, timePtr(newest.Created)
		app.Status.State = r.State(c.Name, newest.Version)
	}
	// creationTimestamp: the oldest version's creation.
	var oldest int64
	for i := range c.Versions {
		if t := c.Versions[i].Created; t != 0 && (oldest == 0 || t < oldest) {
			oldest = t
		}
	}
	app.CreationTimestamp = timeOf(oldest)
	return app
}

// buildVersion is the ApplicationVersion of version e.version of chart e.chart of r.
func buildVersion(r *catalog.Repo, e entry, rv string) *appstore.ApplicationVersion {
	c := &r.Index.Charts[e.chart]
	v := &c.Versions[e.version]
	urls, ociRef := slices.Clone(v.URLs), ""
	if r.Source == appstore.RepoSourceOCI && len(urls) > 0 {
		// An OCI snapshot's URL is oci://host/path/chart:tag; the API shows it as a reference.
		urls, ociRef = nil, strings.TrimPrefix(v.URLs[0], "oci://")
	}
	out := &appstore.ApplicationVersion{
		ObjectMeta: metav1.ObjectMeta{
			Name: e.name, UID: uid(r.UID, c.Name+"/"+v.Version), ResourceVersion: rv,
			Labels: objectLabels(r.Name, c.Name), CreationTimestamp: timeOf(v.Created),
		},
		Spec: appstore.ApplicationVersionSpec{
			Repo: r.Name, Chart: c.Name, Application: e.name[:e.appLen],
			Version: v.Version, AppVersion: v.AppVersion, Description: v.Description, KubeVersion: v.KubeVersion,
			Created: timePtr(v.Created), Digest: digest(v), ChartURLs: urls, OCIReference: ociRef, Deprecated: v.Deprecated,
		},
		Status: appstore.ApplicationVersionStatus{State: appstore.AppStateActive},
	}
	if u := r.Uploads[catalog.UploadKey(c.Name, v.Version)]; u != nil {
		u.Status.DeepCopyInto(&out.Status)
		for k, val := range u.Labels {
			if _, computed := out.Labels[k]; !computed {
				out.Labels[k] = val
			}
		}
		out.Annotations = maps.Clone(u.Annotations)
	}
	return out
}

// applicationFields are the field selectors of an Application (apis/appstore/v1alpha1
// conversion.go registers the same).
func applicationFields(a *appstore.Application) fields.Set {
	return fields.Set{
		"metadata.name": a.Name, "spec.repo": a.Spec.Repo, "spec.chart": a.Spec.Chart, "status.state": string(a.Status.State),
	}
}

func versionFields(v *appstore.ApplicationVersion) fields.Set {
	return fields.Set{
		"metadata.name": v.Name, "spec.repo": v.Spec.Repo, "spec.chart": v.Spec.Chart,
		"spec.application": v.Spec.Application, "spec.version": v.Spec.Version, "status.state": string(v.Status.State),
	}
}

// sameUpload reports whether a version's review facts are the same in two snapshots.
func sameUpload(or, nr *catalog.Repo, chart, version string) bool {
	key := catalog.UploadKey(chart, version)
	o, n := or.Uploads[key], nr.Uploads[key]
	return (o == nil) == (n == nil) && (o == nil || o.Revision == n.Revision)
}

// sameVersion reports whether two index versions make the same ApplicationVersion (for
// the same Repo UID, chart and name): a change diff compares these instead of objects.
func sameVersion(a, b *index.Version) bool {
	return a.Version == b.Version && a.AppVersion == b.AppVersion && a.Description == b.Description &&
		a.KubeVersion == b.KubeVersion && a.Created == b.Created && a.Digest == b.Digest &&
		a.Deprecated == b.Deprecated && slices.Equal(a.URLs, b.URLs)
}
