// Package apprelease is the REST storage of ApplicationReleases: who asked is recorded by the
// server on every create, change and delete (never by the client), a new release carries the
// uninstall finalizer, and a write that would have the App Store act on a cluster needs the
// requester's own right to use that cluster (admission.go).
package apprelease

import (
	"context"
	"fmt"
	"slices"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/validation"
	"kubesphere.io/multicluster/pkg/registry/access"
	"kubesphere.io/multicluster/pkg/registry/specstatus"
)

// maxRequests is how many request records a release keeps (validation's cap).
const maxRequests = 50

// strategy governs writes to the main resource: users own spec and metadata; the server
// owns who asked.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	specstatus.Defaults
}

func newStrategy(typer runtime.ObjectTyper) strategy {
	return strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator,
		Defaults: specstatus.Defaults{GroupVersion: appstore.SchemeGroupVersion.String()}}
}

func (strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	r := obj.(*appstore.ApplicationRelease)
	specstatus.PrepareCreate(&r.ObjectMeta, &r.Status)
	if r.Spec.ReleaseName == "" {
		r.Spec.ReleaseName = r.Name
	}
	record(ctx, r, appstore.RequestActionCreate)
	if !hasFinalizer(r.Finalizers) {
		r.Finalizers = append(r.Finalizers, appstore.UninstallFinalizer)
	}
}

func (strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newR, oldR := obj.(*appstore.ApplicationRelease), old.(*appstore.ApplicationRelease)
	// A status sent through the main resource is ignored, as Kubernetes does.
	newR.Status = *oldR.Status.DeepCopy()
	// An empty releaseName in an update (a client that never sent it) keeps the name: it
	// is immutable and validation would refuse the change.
	if newR.Spec.ReleaseName == "" {
		newR.Spec.ReleaseName = oldR.Spec.ReleaseName
	}
	// A new version or new values is a new target: a rollback asked for earlier no longer
	// applies to it.
	if newR.Spec.Version != oldR.Spec.Version || !apiequality.Semantic.DeepEqual(newR.Spec.Values, oldR.Spec.Values) {
		newR.Spec.Rollback = nil
	}
	if apiequality.Semantic.DeepEqual(newR.Spec, oldR.Spec) {
		return
	}
	newR.Generation = oldR.Generation + 1
	action := appstore.RequestActionUpdate
	if newR.Spec.Rollback != nil && !apiequality.Semantic.DeepEqual(newR.Spec.Rollback, oldR.Spec.Rollback) {
		action = appstore.RequestActionRollback
	}
	record(ctx, newR, action)
}

// record makes the requesting user the release's requester (the one the App Store acts as)
// and appends the request to its history.
func record(ctx context.Context, r *appstore.ApplicationRelease, action appstore.RequestAction) {
	u, ok := request.UserFrom(ctx)
	if !ok {
		// Admission refuses a write without a user; nothing to record.
		return
	}
	// No one may impersonate system:masters: an administrator's delete is recorded, and
	// the uninstall acts as the last requester (admission refuses such a user any other
	// write).
	if !slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup) && !access.SystemActor(u) {
		r.Status.Requester = requesterOf(u)
	}
	r.Status.Requests = append(r.Status.Requests, appstore.RequestRecord{
		Generation: r.Generation, Action: action, User: u.GetName(), Time: metav1.Now(), Version: r.Spec.Version,
	})
	if n := len(r.Status.Requests); n > maxRequests {
		r.Status.Requests = append([]appstore.RequestRecord(nil), r.Status.Requests[n-maxRequests:]...)
	}
}

func requesterOf(u user.Info) appstore.Requester {
	req := appstore.Requester{Username: u.GetName(), UID: u.GetUID()}
	if g := u.GetGroups(); len(g) > 0 {
		req.Groups = append([]string(nil), g...)
	}
	if e := u.GetExtra(); len(e) > 0 {
		req.Extra = make(map[string][]string, len(e))
		for k, v := range e {
			req.Extra[k] = append([]string(nil), v...)
		}
	}
	return req
}

func hasFinalizer(finalizers []string) bool {
	for _, f := range finalizers {
		if f == appstore.UninstallFinalizer {
			return true
		}
	}
	return false
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateApplicationRelease(obj.(*appstore.ApplicationRelease))
}

func (strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateApplicationReleaseUpdate(obj.(*appstore.ApplicationRelease), old.(*appstore.ApplicationRelease))
}

// statusStrategy governs applicationreleases/status: the controller owns the per-cluster
// state, and who asked stays the server's.
type statusStrategy struct{ strategy }

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return s.StatusResetFields()
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newR, oldR := obj.(*appstore.ApplicationRelease), old.(*appstore.ApplicationRelease)
	specstatus.PrepareStatusUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, &newR.Spec, &oldR.Spec)
	newR.Status.Requester = *oldR.Status.Requester.DeepCopy()
	newR.Status.Requests = append([]appstore.RequestRecord(nil), oldR.Status.Requests...)
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateApplicationReleaseStatusUpdate(obj.(*appstore.ApplicationRelease), old.(*appstore.ApplicationRelease))
}

// getAttrs returns the labels and fields lists and watches filter by.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	r, ok := obj.(*appstore.ApplicationRelease)
	if !ok {
		return nil, nil, fmt.Errorf("not an ApplicationRelease: %T", obj)
	}
	fs := generic.ObjectMetaFieldsSet(&r.ObjectMeta, false)
	fs["spec.application"] = r.Spec.Application
	fs["spec.targetNamespace"] = r.Spec.TargetNamespace
	return r.Labels, fs, nil
}

func match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
