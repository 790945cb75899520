package appview

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"

	"kubesphere.io/multicluster/apis/appstore"
)

// ChartContentType is the media type of a served chart archive: application/gzip, the
// registered type of gzip (RFC 6713). Repositories serve .tgz files under several
// (application/gzip, application/x-gzip, application/octet-stream); Helm reads the bytes
// whatever the type says.
const ChartContentType = "application/gzip"

// ChartSource reads a version's chart archive; reposync.Syncer is cluster-apiserver's.
// Its errors are API Status errors, NotFound when the version is not (or no longer) in
// the catalog.
type ChartSource interface {
	Chart(ctx context.Context, repo, chart, version string) ([]byte, error)
}

// ChartREST is the subresource applicationversions/<name>/chart: GET answers the chart
// archive of the version, verified by its source before the first byte is sent.
type ChartREST struct {
	versions *REST
	source   ChartSource
	uploads  Uploads
}

// NewChartStorage returns the chart subresource of versions (the applicationversions
// storage of NewStorage) over source; a PUT stores an archive in uploads (nil: none).
func NewChartStorage(versions *REST, source ChartSource, uploads Uploads) *ChartREST {
	return &ChartREST{versions: versions, source: source, uploads: uploads}
}

var (
	_ rest.Storage         = &ChartREST{}
	_ rest.Getter          = &ChartREST{}
	_ rest.StorageMetadata = &ChartREST{}
	_ rest.Connecter       = &ChartREST{}
)

func (c *ChartREST) New() runtime.Object { return &appstore.ApplicationVersion{} }
func (c *ChartREST) Destroy()            {}

// ProducesMIMETypes and ProducesObject describe the response in OpenAPI: bytes of the
// archive's type, not an ApplicationVersion (as pods/log does for its text).
func (c *ChartREST) ProducesMIMETypes(string) []string { return []string{ChartContentType} }
func (c *ChartREST) ProducesObject(string) any         { return "" }

// ConnectMethods: PUT uploads an archive (verb update on applicationversions/chart); its
// body is streamed to the store, never decoded as an object.
func (c *ChartREST) ConnectMethods() []string { return []string{http.MethodPut} }

func (c *ChartREST) NewConnectOptions() (runtime.Object, bool, string) { return nil, false, "" }

// Connect serves the PUT of an uploaded version's archive.
func (c *ChartREST) Connect(ctx context.Context, name string, _ runtime.Object, responder rest.Responder) (http.Handler, error) {
	return c.upload(ctx, name, responder), nil
}

// Get returns a stream of the archive of the version named name.
func (c *ChartREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	found, ok := c.versions.versionNamed(name)
	if !ok {
		return nil, apierrors.NewNotFound(c.versions.gr, name)
	}
	data, err := c.source.Chart(ctx, found.Repo.Name, found.Chart.Name, found.Version.Version)
	if apierrors.IsNotFound(err) {
		// Gone from the catalog since the lookup: a new index without it.
		return nil, apierrors.NewNotFound(c.versions.gr, name)
	}
	var status *apierrors.StatusError
	if errors.As(err, &status) {
		if status.ErrStatus.Details == nil {
			status.ErrStatus.Details = &metav1.StatusDetails{Group: c.versions.gr.Group, Kind: c.versions.gr.Resource, Name: name}
		}
		return nil, status
	} else if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &chartStream{data: data}, nil
}

// chartStream is a verified archive as the API server streams a response
// (rest.ResourceStreamer); it is never encoded as an object.
type chartStream struct {
	data []byte // shared with the cache: read only
}

var _ rest.ResourceStreamer = &chartStream{}

func (s *chartStream) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (s *chartStream) DeepCopyObject() runtime.Object   { return &chartStream{data: s.data} }

func (s *chartStream) InputStream(context.Context, string, string) (io.ReadCloser, bool, string, error) {
	return io.NopCloser(bytes.NewReader(s.data)), false, ChartContentType, nil
}
