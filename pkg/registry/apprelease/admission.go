package apprelease

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"kubesphere.io/multicluster/apis/appstore"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/appview"
)

// Versions finds the chart versions releases name (the App Store's catalog view).
type Versions interface {
	FindVersion(application, version string) (appview.Found, bool)
}

// Guard is the admission of release writes that validation cannot decide. The App Store acts
// on each cluster as the recorded requester, through the same per-cluster gate as kubectl;
// asking here first turns a refusal the controller would meet later into a Forbidden now,
// with nothing stored.
type Guard struct {
	// Authorizer decides for the requesting user; without one every write is refused.
	Authorizer access.Authorizer
	// Clusters resolves placement selectors.
	Clusters clusterlisters.ClusterLister
	// Versions finds the version a release names.
	Versions Versions
}

var resource = appstore.Resource("applicationreleases")

// admit checks a create, or an update that changes spec (who asks becomes the requester for
// every cluster of the placement, so every one is checked again).
func (g Guard) admit(ctx context.Context, obj, old runtime.Object) error {
	r := obj.(*appstore.ApplicationRelease)
	var prev *appstore.ApplicationRelease
	if old != nil {
		prev = old.(*appstore.ApplicationRelease)
		if r.Generation == prev.Generation {
			return nil // metadata only: nothing new is done as anyone
		}
	}
	u, ok := request.UserFrom(ctx)
	if !ok {
		return apierrors.NewForbidden(resource, r.Name, fmt.Errorf("no user to record as the requester"))
	}
	if err := access.RefuseUnimpersonable(u, resource, r.Name, "the App Store", false); err != nil {
		return err
	}
	if prev == nil || prev.Spec.Application != r.Spec.Application || prev.Spec.Version != r.Spec.Version {
		if err := g.admitVersion(ctx, r); err != nil {
			return err
		}
	}
	clusterNames, err := g.placed(&r.Spec.Placement)
	if err != nil {
		return err
	}
	for _, c := range clusterNames {
		if err := access.UseCluster(ctx, g.Authorizer, resource, r.Name, c, "create", "install or change a release on", "the App Store"); err != nil {
			return err
		}
	}
	if prev == nil || r.Spec.RemovalPolicy == appstore.RemovalPolicyKeep {
		return nil
	}
	// Clusters that leave the placement are uninstalled from, as who asks now.
	placed := map[string]bool{}
	for _, c := range clusterNames {
		placed[c] = true
	}
	for _, c := range installedOn(prev) {
		if !placed[c] {
			if err := access.UseCluster(ctx, g.Authorizer, resource, r.Name, c, "delete", "uninstall a release (it leaves the placement) from", "the App Store"); err != nil {
				return err
			}
		}
	}
	return nil
}

// admitDelete checks that the deleter may uninstall wherever the release is: the uninstall
// runs as them.
func (g Guard) admitDelete(ctx context.Context, r *appstore.ApplicationRelease) error {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return apierrors.NewForbidden(resource, r.Name, fmt.Errorf("no user to record as the deleter"))
	}
	if err := access.RefuseUnimpersonable(u, resource, r.Name, "the App Store", true); err != nil {
		return err
	}
	if access.SystemActor(u) {
		return nil // the garbage collector: the uninstall acts as the last requester
	}
	for _, c := range installedOn(r) {
		if err := access.UseCluster(ctx, g.Authorizer, resource, r.Name, c, "delete", "uninstall a release from", "the App Store"); err != nil {
			return err
		}
	}
	return nil
}

// installedOn lists the clusters a deletion uninstalls from: those of the placement and those
// status shows the release on, but not those it was kept on or that are gone.
func installedOn(r *appstore.ApplicationRelease) []string {
	names := slices.Clone(r.Spec.Placement.Clusters)
	for _, c := range r.Status.Clusters {
		switch c.Phase {
		case appstore.ReleasePhaseUninstalled, appstore.ReleasePhaseKept, appstore.ReleasePhaseClusterDeleted:
			continue
		}
		names = append(names, c.Cluster)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func (g Guard) admitVersion(ctx context.Context, r *appstore.ApplicationRelease) error {
	if g.Versions == nil {
		return apierrors.NewForbidden(resource, r.Name, fmt.Errorf("the App Store's catalog is not available on this server"))
	}
	found, ok := g.Versions.FindVersion(r.Spec.Application, r.Spec.Version)
	if !ok {
		return apierrors.NewInvalid(appstore.Kind("ApplicationRelease"), r.Name, field.ErrorList{field.NotFound(
			field.NewPath("spec", "version"), fmt.Sprintf("%s of Application %s (is the Repo synced? `kubectl get applicationversions -l %s=%s`)",
				r.Spec.Version, r.Spec.Application, appstore.RepoLabel, strings.SplitN(r.Spec.Application, ".", 2)[0]))})
	}
	attrs := authorizer.AttributesRecord{Verb: "get", APIGroup: appstore.GroupName, APIVersion: "v1alpha1",
		Resource: "applicationversions", Name: found.Name, ResourceRequest: true}
	if err := access.Require(ctx, g.Authorizer, resource, r.Name, attrs, func(user string) string {
		return fmt.Sprintf("installing %s %s needs the right to read it: user %q may not get applicationversions %q",
			r.Spec.Application, r.Spec.Version, user, found.Name)
	}); err != nil {
		return err
	}
	if state := found.State; state != appstore.AppStateActive {
		// Only reviewed, active versions are installed; one suspended later keeps running
		// where it is, but nothing new moves to it.
		return apierrors.NewInvalid(appstore.Kind("ApplicationRelease"), r.Name, field.ErrorList{field.Invalid(
			field.NewPath("spec", "version"), r.Spec.Version, fmt.Sprintf("%s: ApplicationVersion %s is %s; only Active versions can be installed "+
				"(an uploaded version is activated after its review)", appstore.VersionReasonNotActive, found.Name, state))})
	}
	return nil
}

// placed returns the clusters a placement selects now; clusters that join a selector later
// meet the same gate when the controller acts on them.
func (g Guard) placed(p *appstore.Placement) ([]string, error) {
	if p.ClusterSelector == nil {
		return p.Clusters, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.ClusterSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.placement.clusterSelector: %v", err))
	}
	if g.Clusters == nil {
		return nil, apierrors.NewServiceUnavailable("the Cluster cache is not available to resolve spec.placement.clusterSelector")
	}
	list, err := g.Clusters.List(labels.Everything())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var names []string
	for _, c := range list {
		if sel.Matches(labels.Set(c.Labels)) {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}
