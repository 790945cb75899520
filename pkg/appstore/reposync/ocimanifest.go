package reposync

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Helm's media types of a chart in a registry, and the limits on what is read of one.
const (
	helmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	helmChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	// legacyChartMediaType is what Helm 3.0-3.7 pushed as the chart layer.
	legacyChartMediaType = "application/tar+gzip"
	// maxManifestBytes: a chart's manifest has two descriptors and some annotations.
	maxManifestBytes = 256 << 10
	// maxConfigBytes: the config blob is Chart.yaml as JSON.
	maxConfigBytes = 64 << 10
)

// chartConfig is the part of Helm's config blob (Chart.yaml as JSON) a version shows.
type chartConfig struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	AppVersion  string   `json:"appVersion"`
	Description string   `json:"description"`
	KubeVersion string   `json:"kubeVersion"`
	Icon        string   `json:"icon"`
	Home        string   `json:"home"`
	Keywords    []string `json:"keywords"`
	Sources     []string `json:"sources"`
	Deprecated  bool     `json:"deprecated"`
	Maintainers []struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		URL   string `json:"url"`
	} `json:"maintainers"`
}

// errTagGone: a listed tag was untagged before its manifest was read.
var errTagGone = errors.New("tag gone")

// readVersion reads the manifest a tag points at and its config blob. A manifest that is
// not a Helm chart of that name and version gives "", nil and no error: the tag is
// skipped (and remembered, so it is not read again).
func readVersion(ctx context.Context, r *remote.Repository, chart string, t ociTag) (digest.Digest, *ociVersion, error) {
	desc, m, err := fetchManifest(ctx, r, t.tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return "", nil, errTagGone
	}
	if err != nil {
		return "", nil, err
	}
	layer, ok := chartLayer(m)
	layerSum, isSHA256 := sha256Of(layer.Digest)
	if !ok || !isSHA256 || m.Config.MediaType != helmConfigMediaType || m.Config.Size > maxConfigBytes {
		return "", nil, nil
	}
	what := fmt.Sprintf("the chart config of oci://%s:%s", r.Reference, t.tag)
	rc, err := r.Fetch(ctx, m.Config)
	if err != nil {
		return "", nil, classifyOCI("read "+what, err)
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, m.Config)
	if err != nil {
		return "", nil, classifyOCI("read "+what, err)
	}
	var cfg chartConfig
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Name != chart || cfg.Version != t.version {
		return "", nil, nil
	}
	v := &ociVersion{layer: layer, version: index.Version{
		Version: cfg.Version, AppVersion: cfg.AppVersion, Description: cfg.Description, KubeVersion: cfg.KubeVersion,
		Created: created(m.Annotations), Digest: layerSum, Deprecated: cfg.Deprecated,
	}, meta: chartMeta{icon: cfg.Icon, home: cfg.Home, keywords: cfg.Keywords, sources: cfg.Sources}}
	if v.version.Description == "" {
		v.version.Description = m.Annotations[ocispec.AnnotationDescription]
	}
	for _, mt := range cfg.Maintainers {
		v.meta.maintainers = append(v.meta.maintainers, index.Maintainer{Name: mt.Name, Email: mt.Email, URL: mt.URL})
	}
	return desc.Digest, v, nil
}

// fetchManifest reads the manifest of reference (a tag or a digest), verified against
// its digest and within maxManifestBytes.
func fetchManifest(ctx context.Context, r *remote.Repository, reference string) (ocispec.Descriptor, *ocispec.Manifest, error) {
	what := fmt.Sprintf("read the manifest of oci://%s:%s", r.Reference, reference)
	desc, rc, err := r.FetchReference(ctx, reference)
	if errors.Is(err, errdef.ErrNotFound) {
		return desc, nil, err
	}
	if err != nil {
		return desc, nil, classifyOCI(what, err)
	}
	defer rc.Close()
	if desc.Size > maxManifestBytes {
		return desc, nil, failed(appstore.RepoReasonInvalidIndex, "%s: %d bytes, over %d", what, desc.Size, maxManifestBytes)
	}
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return desc, nil, classifyOCI(what, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return desc, nil, failed(appstore.RepoReasonInvalidIndex, "%s: %v", what, err)
	}
	return desc, &m, nil
}

// chartLayer is the manifest's one chart archive layer.
func chartLayer(m *ocispec.Manifest) (ocispec.Descriptor, bool) {
	var found []ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == helmChartMediaType || l.MediaType == legacyChartMediaType {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return ocispec.Descriptor{}, false
	}
	return found[0], true
}

// created is the manifest's creation annotation (helm push writes RFC 3339), 0 if none.
func created(annotations map[string]string) int64 {
	t, err := time.Parse(time.RFC3339Nano, annotations[ocispec.AnnotationCreated])
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

// sha256Of is a sha256 digest's bytes (ok false for another algorithm or a malformed one).
func sha256Of(d digest.Digest) (out [32]byte, ok bool) {
	if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
		return out, false
	}
	b, err := hex.DecodeString(d.Encoded())
	if err != nil || len(b) != len(out) {
		return out, false
	}
	copy(out[:], b)
	return out, true
}

// classifyOCI names why a registry request failed, with the condition reasons an Index
// repo's reads have: the status code of the registry's answer, a broken or oversized
// answer, else TLS or the network.
func classifyOCI(what string, err error) error {
	var fe *fetchError
	if errors.As(err, &fe) {
		return err
	}
	var resp *errcode.ErrorResponse
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return failed(appstore.RepoReasonUnauthorized, "%s: %v: check the Secret named by credentialsSecretRef", what, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return failed(appstore.RepoReasonUnauthorized, "%s: the registry wants a login: set credentialsSecretRef", what)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound, errors.Is(err, errdef.ErrNotFound):
		return failed(appstore.RepoReasonNotFound, "%s: %v: check spec.url and the chart names in spec.charts", what, err)
	case errors.As(err, &resp) && resp.StatusCode >= 500:
		return failed(appstore.RepoReasonUnreachable, "%s: %v", what, err)
	case errors.As(err, &resp):
		return failed(appstore.RepoReasonInvalidIndex, "%s: %v", what, err)
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return failed(appstore.RepoReasonIndexTooLarge, "%s: %v", what, err)
	case isMalformed(err):
		return failed(appstore.RepoReasonInvalidIndex, "%s: the registry's answer is malformed: %v", what, err)
	}
	return classify(what, err)
}

// isMalformed: an answer that is not what the distribution API specifies.
func isMalformed(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) ||
		errors.Is(err, errdef.ErrTooManyPages) || errors.Is(err, errdef.ErrInvalidDigest) || errors.Is(err, digest.ErrDigestInvalidFormat)
}
