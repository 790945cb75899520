package reposync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
)

// MaxOCIChartBytes is the largest chart archive PullOCIChart reads (the upload limit).
const MaxOCIChartBytes = 20 << 20

// PullOCIChart fetches the archive of version of chart from the OCI Repo named repoName,
// with the Repo's CA bundle and credentials, for `applicationversions/<name>/chart`. It
// reads the manifest the last sync of this replica listed for the tag (else the tag's
// current one), refuses a chart layer over MaxOCIChartBytes before reading it, and
// returns the bytes only once their sha256 matches the manifest's layer digest (and the
// digest the views show, when this replica's catalog has the version).
//
// Errors are API Status errors: NotFound when the Repo, chart or version is unknown or
// gone from the registry; 503 with the reason of a failed Repo sync when the registry fails
// (Unauthorized, Unreachable, TLSError); 502 for what it serves (InvalidIndex,
// ChartDigestMismatch, ChartTooLarge), as for an index's archives.
func (s *Syncer) PullOCIChart(ctx context.Context, repoName, chartName, version string) ([]byte, [32]byte, error) {
	var none [32]byte
	what := repoName + "/" + chartName + " " + version
	notFound := func(msg string) error {
		err := apierrors.NewNotFound(appstore.Resource("applicationversions"), what)
		err.ErrStatus.Message = msg
		return err
	}
	repo, err := s.repos.Get(repoName)
	if apierrors.IsNotFound(err) {
		return nil, none, notFound(fmt.Sprintf("Repo %q not found", repoName))
	} else if err != nil {
		return nil, none, apierrors.NewInternalError(err)
	}
	if repo.Spec.Source != v1alpha1.RepoSourceOCI {
		return nil, none, apierrors.NewBadRequest(fmt.Sprintf("Repo %q is a %s repo, not OCI", repoName, repo.Spec.Source))
	}
	if !slices.Contains(repo.Spec.Charts, chartName) {
		return nil, none, notFound(fmt.Sprintf("Repo %q names no chart %q in spec.charts", repoName, chartName))
	}
	client, host, path, err := s.ociClient(repo)
	if err != nil {
		return nil, none, pullError(err)
	}
	r, err := ociRepository(client, host, path, chartName)
	if err != nil {
		return nil, none, pullError(err)
	}
	tag := strings.ReplaceAll(version, "+", "_")
	reference := tag
	if st := s.ociStateOf(repoName); st != nil && st.generation == repo.Generation && st.tags[chartTag{chartName, tag}] != "" {
		reference = st.tags[chartTag{chartName, tag}].String() // pinned to what the views show
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	_, m, err := fetchManifest(ctx, r, reference)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, none, notFound(fmt.Sprintf("oci://%s:%s is not in the registry (any more)", r.Reference, tag))
	} else if err != nil {
		return nil, none, pullError(err)
	}
	layer, ok := chartLayer(m)
	sum, isSHA256 := sha256Of(layer.Digest)
	if !ok || !isSHA256 {
		return nil, none, pullError(failed(appstore.RepoReasonInvalidIndex, "oci://%s:%s has no single sha256 Helm chart layer", r.Reference, tag))
	}
	if want, ok := s.listedDigest(repoName, chartName, version); ok && want != sum {
		return nil, none, pullError(failed(appstore.ChartReasonDigestMismatch, "oci://%s:%s now holds chart layer %s, not the one listed at the last sync; sync the Repo again", r.Reference, tag, layer.Digest))
	}
	if layer.Size > MaxOCIChartBytes || layer.Size < 0 {
		return nil, none, pullError(failed(appstore.ChartReasonTooLarge, "oci://%s:%s: the chart is %d bytes, over %d", r.Reference, tag, layer.Size, MaxOCIChartBytes))
	}
	rc, err := r.Fetch(ctx, layer)
	if err != nil {
		return nil, none, pullError(classifyOCI("fetch the chart of oci://"+r.Reference.String()+":"+tag, err))
	}
	defer rc.Close()
	// ReadAll stops at the manifest's size and checks the digest.
	data, err := content.ReadAll(io.LimitReader(rc, MaxOCIChartBytes+1), layer)
	if errors.Is(err, content.ErrMismatchedDigest) {
		return nil, none, pullError(failed(appstore.ChartReasonDigestMismatch, "oci://%s:%s: the chart's bytes do not match its digest %s", r.Reference, tag, layer.Digest))
	} else if err != nil {
		return nil, none, pullError(classifyOCI("read the chart of oci://"+r.Reference.String()+":"+tag, err))
	}
	return data, sum, nil
}

// listedDigest is the chart digest this replica's catalog shows for the version.
func (s *Syncer) listedDigest(repoName, chartName, version string) ([32]byte, bool) {
	r, ok := s.catalog.Get(repoName)
	if !ok || r.Index == nil {
		return [32]byte{}, false
	}
	c, ok := r.Index.Chart(chartName)
	if !ok {
		return [32]byte{}, false
	}
	for i := range c.Versions {
		if v := &c.Versions[i]; v.Version == version && v.HasDigest() {
			return v.Digest, true
		}
	}
	return [32]byte{}, false
}

// pullError is a failed pull as the API reports it: the registry is the server's
// upstream, so a 502 with the reason a Repo condition would carry.
func pullError(err error) error {
	reason := reasonOf(err)
	if reason == appstore.RepoReasonNotFound {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: err.Error()}}
	}
	// As for an index's archives: the source failing is 503, a bad chart from it 502.
	code := int32(http.StatusServiceUnavailable)
	switch reason {
	case appstore.ChartReasonDigestMismatch, appstore.ChartReasonTooLarge, appstore.ChartReasonInvalid, appstore.RepoReasonInvalidIndex:
		code = http.StatusBadGateway
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code,
		Reason: metav1.StatusReason(reason), Message: err.Error()}}
}
