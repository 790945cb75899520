package appview

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// Uploads is the store of the versions uploaded to Upload repos (pkg/appstore/upload). Its
// writes return the storage revision they made, which Wait waits for in this replica's
// catalog, so that a client reads its own write.
type Uploads interface {
	Create(ctx context.Context, v *appstore.ApplicationVersion) (uint64, error)
	Upload(ctx context.Context, name string, body io.Reader) (uint64, error)
	Transition(ctx context.Context, name string, action appstore.ReviewAction, message string) (uint64, error)
	Delete(ctx context.Context, name string) (*appstore.ApplicationVersion, uint64, error)
	Relabel(ctx context.Context, name string, labels, annotations map[string]string) (uint64, error)
	Wait(ctx context.Context, rev uint64)
}

// settleTimeout bounds how long a write waits for the catalog to show it.
const settleTimeout = 10 * time.Second

// settled returns the view of the version named name once the catalog holds revision rev.
func (s *REST) settled(ctx context.Context, uploads Uploads, rev uint64, name string) (runtime.Object, error) {
	wctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	uploads.Wait(wctx, rev)
	return s.Get(ctx, name, &metav1.GetOptions{})
}

// VersionREST is applicationversions: the view of every Repo's versions, which clients may
// create and delete in Upload repos only.
type VersionREST struct {
	*REST
	uploads Uploads
}

// NewVersionStorage returns applicationversions over the view versions (of NewStorage) and
// the uploads.
func NewVersionStorage(versions *REST, uploads Uploads) *VersionREST {
	return &VersionREST{REST: versions, uploads: uploads}
}

var (
	_ rest.Creater         = &VersionREST{}
	_ rest.Updater         = &VersionREST{}
	_ rest.GracefulDeleter = &VersionREST{}
)

// Create makes a Draft version in an Upload repo; its archive follows on the chart
// subresource.
func (s *VersionREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, opts *metav1.CreateOptions) (runtime.Object, error) {
	v := obj.(*appstore.ApplicationVersion)
	if opts != nil && len(opts.DryRun) > 0 {
		return nil, apierrors.NewBadRequest("dry run is not supported for applicationversions")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj); err != nil {
			return nil, err
		}
	}
	rev, err := s.uploads.Create(ctx, v)
	if err != nil {
		return nil, err
	}
	return s.settled(ctx, s.uploads, rev, v.Name)
}

// Update changes the labels and annotations of an uploaded version; its spec comes from its
// archive and its status from its review, so neither can be written.
func (s *VersionREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, _ rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, _ bool, opts *metav1.UpdateOptions) (runtime.Object, bool, error) {
	if opts != nil && len(opts.DryRun) > 0 {
		return nil, false, apierrors.NewBadRequest("dry run is not supported for applicationversions")
	}
	current, err := s.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	cur := current.(*appstore.ApplicationVersion)
	obj, err := objInfo.UpdatedObject(ctx, current)
	if err != nil {
		return nil, false, err
	}
	next := obj.(*appstore.ApplicationVersion)
	if next.ResourceVersion != "" && next.ResourceVersion != cur.ResourceVersion {
		return nil, false, apierrors.NewConflict(s.gr, name, fmt.Errorf(optimisticLock))
	}
	if !apiequality.Semantic.DeepEqual(next.Spec, cur.Spec) || !apiequality.Semantic.DeepEqual(next.Status, cur.Status) {
		return nil, false, apierrors.NewInvalid(appstore.Kind("ApplicationVersion"), name, field.ErrorList{field.Forbidden(field.NewPath("spec"),
			"an uploaded version's spec comes from its chart archive (applicationversions/<name>/chart) and its status from its review "+
				"(applicationversions/<name>/submit, pass, ...): only labels and annotations can be changed")})
	}
	if updateValidation != nil {
		if err := updateValidation(ctx, next, cur); err != nil {
			return nil, false, err
		}
	}
	rev, err := s.uploads.Relabel(ctx, name, next.Labels, next.Annotations)
	if err != nil {
		return nil, false, err
	}
	out, err := s.settled(ctx, s.uploads, rev, name)
	return out, false, err
}

// optimisticLock is the message of a write made on an older object (as the etcd store's).
const optimisticLock = "the object has been modified; please apply your changes to the latest version and try again"

// Delete removes an uploaded version and its archive.
func (s *VersionREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if opts != nil && len(opts.DryRun) > 0 {
		return nil, false, apierrors.NewBadRequest("dry run is not supported for applicationversions")
	}
	current, err := s.Get(ctx, name, &metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	if current != nil && deleteValidation != nil {
		if err := deleteValidation(ctx, current); err != nil {
			return nil, false, err
		}
	}
	_, rev, err := s.uploads.Delete(ctx, name)
	if err != nil {
		return nil, false, err
	}
	wctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	s.uploads.Wait(wctx, rev)
	if current == nil {
		return &metav1.Status{Status: metav1.StatusSuccess}, true, nil
	}
	return current, true, nil
}

// ReviewREST is one review transition, applicationversions/<name>/<action>: a POST of a
// ReviewRequest makes it as the requesting user, and answers the version.
type ReviewREST struct {
	versions *REST
	uploads  Uploads
	action   appstore.ReviewAction
}

// NewReviewStorage returns the subresource of action.
func NewReviewStorage(versions *REST, uploads Uploads, action appstore.ReviewAction) *ReviewREST {
	return &ReviewREST{versions: versions, uploads: uploads, action: action}
}

var (
	_ rest.NamedCreater    = &ReviewREST{}
	_ rest.StorageMetadata = &ReviewREST{}
)

func (r *ReviewREST) New() runtime.Object { return &appstore.ReviewRequest{} }
func (r *ReviewREST) Destroy()            {}

// ProducesMIMETypes and ProducesObject describe the answer in OpenAPI: the version.
func (r *ReviewREST) ProducesMIMETypes(string) []string { return nil }
func (r *ReviewREST) ProducesObject(string) any         { return v1alpha1.ApplicationVersion{} }

func (r *ReviewREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, opts *metav1.CreateOptions) (runtime.Object, error) {
	req := obj.(*appstore.ReviewRequest)
	if opts != nil && len(opts.DryRun) > 0 {
		return nil, apierrors.NewBadRequest("dry run is not supported for review transitions")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj); err != nil {
			return nil, err
		}
	}
	rev, err := r.uploads.Transition(ctx, name, r.action, req.Message)
	if err != nil {
		return nil, err
	}
	return r.versions.settled(ctx, r.uploads, rev, name)
}

// upload answers a PUT of an archive to applicationversions/<name>/chart.
func (c *ChartREST) upload(ctx context.Context, name string, responder rest.Responder) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		if c.uploads == nil {
			responder.Error(apierrors.NewMethodNotSupported(c.versions.gr, "upload"))
			return
		}
		rev, err := c.uploads.Upload(ctx, name, req.Body)
		if err != nil {
			responder.Error(err)
			return
		}
		obj, err := c.versions.settled(ctx, c.uploads, rev, name)
		if err != nil {
			responder.Error(fmt.Errorf("the archive is stored, but reading the version back failed: %w", err))
			return
		}
		responder.Object(http.StatusOK, obj)
	})
}
