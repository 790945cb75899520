package reposync

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/appstore/index"
)

// Chart archives (GET applicationversions/<name>/chart). appstore-controller holds no
// Repo credential: it gets every chart from here, verified against the index.
const (
	defaultMaxChart = 20 << 20
	// defaultChartCache bounds the verified archives kept in memory, in bytes.
	defaultChartCache = 64 << 20
	// chartTimeout stays under the API server's 60 s request timeout, so that a repository
	// that stalls is reported as Unreachable with its URL rather than as a bare timeout.
	chartTimeout = 45 * time.Second
	// chartDownloads at once per replica: each holds up to the size limit in memory
	// until it is verified.
	chartDownloads = 4
)

// Uploads reads the archives of uploaded versions (pkg/appstore/upload).
type Uploads interface {
	Chart(ctx context.Context, name string) ([]byte, error)
}

// ServeUploads makes Chart serve the versions of Upload repos from u.
func (s *Syncer) ServeUploads(u Uploads) { s.uploads = u }

// Chart returns the chart archive (.tgz) of version of chartName in the Repo named
// repoName, as this replica's catalog lists it. Errors are API Status errors: NotFound
// when the catalog has no such version, the Repo reasons of its source (503), a digest
// mismatch, an archive over the limit or not an archive (502), and 501 for a source
// whose charts are not served yet. Bytes that fail verification are never returned.
// The returned bytes may be shared: read only.
func (s *Syncer) Chart(ctx context.Context, repoName, chartName, version string) ([]byte, error) {
	repo, err := s.repos.Get(repoName)
	if apierrors.IsNotFound(err) {
		return nil, versionNotFound(repoName, chartName, version)
	} else if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	// The one place a source picks how its charts are read.
	switch repo.Spec.Source {
	case v1alpha1.RepoSourceIndex:
		return s.indexChart(ctx, repo, chartName, version)
	case v1alpha1.RepoSourceOCI:
		return s.ociChart(ctx, repo, chartName, version)
	case v1alpha1.RepoSourceUpload:
		if s.uploads != nil {
			// An uploaded version's name is exactly "<repo>.<chart>.<version>".
			return s.uploads.Chart(ctx, repo.Name+"."+chartName+"."+version)
		}
	}
	return nil, chartStatus(http.StatusNotImplemented, appstore.ChartReasonSourceNotSupported,
		fmt.Sprintf("Repo %s is an %s repository, whose charts this cluster-apiserver does not serve", repo.Name, repo.Spec.Source))
}

// indexChart downloads the archive at the version's first URL, resolved against the
// index's own URL as Helm does, with the Repo's client.
func (s *Syncer) indexChart(ctx context.Context, repo *v1alpha1.Repo, chartName, version string) ([]byte, error) {
	v, ok := s.findVersion(repo.Name, chartName, version)
	if !ok {
		return nil, versionNotFound(repo.Name, chartName, version)
	}
	what := fmt.Sprintf("chart %s %s of Repo %s", chartName, version, repo.Name)
	if len(v.URLs) == 0 {
		return nil, chartStatus(http.StatusBadGateway, appstore.ChartReasonInvalid, what+": the index lists no URL for it")
	}
	target, err := chartURL(repo.Spec.URL, v.URLs[0])
	if err != nil {
		return nil, chartStatus(http.StatusBadGateway, appstore.ChartReasonInvalid, fmt.Sprintf("%s: %v", what, err))
	}
	download := func(ctx context.Context) ([]byte, error) { return s.download(ctx, repo, target, v) }
	var data []byte
	if v.HasDigest() {
		data, err = s.charts.fetch(ctx, v.Digest, download)
	} else {
		// Nothing to verify the bytes by, so nothing to cache them by either.
		data, err = download(ctx)
	}
	if err != nil {
		return nil, statusOf(what, err)
	}
	return data, nil
}

// ociChart pulls the chart layer of an OCI Repo's version, within the same download
// slots and cache as an index's archives.
func (s *Syncer) ociChart(ctx context.Context, repo *v1alpha1.Repo, chartName, version string) ([]byte, error) {
	pull := func(ctx context.Context) ([]byte, error) {
		release, err := s.slot(ctx, fmt.Sprintf("oci %s %s %s", repo.Name, chartName, version))
		if err != nil {
			return nil, err
		}
		defer release()
		body, _, err := s.PullOCIChart(ctx, repo.Name, chartName, version)
		return body, err
	}
	if v, ok := s.findVersion(repo.Name, chartName, version); ok && v.HasDigest() {
		return s.charts.fetch(ctx, v.Digest, pull)
	}
	return pull(ctx)
}

// slot waits for one of the download slots that bound the archives held at once.
func (s *Syncer) slot(ctx context.Context, what string) (release func(), err error) {
	select {
	case s.downloads <- struct{}{}:
		return func() { <-s.downloads }, nil
	case <-ctx.Done():
		return nil, failed(appstore.RepoReasonUnreachable, "%s: waiting for a download slot: %v", what, ctx.Err())
	}
}

// findVersion is the version of the catalog's snapshot of the Repo. Snapshots are never
// changed, only replaced, so the copy stays valid.
func (s *Syncer) findVersion(repoName, chartName, version string) (*index.Version, bool) {
	r, ok := s.catalog.Get(repoName)
	if !ok || r.Index == nil {
		return nil, false
	}
	chart, ok := r.Index.Chart(chartName)
	if !ok {
		return nil, false
	}
	for i := range chart.Versions {
		if chart.Versions[i].Version == version {
			return &chart.Versions[i], true
		}
	}
	return nil, false
}

// chartURL resolves a URL of the index against the index's own URL (a relative one is
// beside index.yaml). Only https is read, as for the index.
func chartURL(repoURL, listed string) (string, error) {
	base, err := indexURL(repoURL)
	if err != nil {
		return "", fmt.Errorf("spec.url %q: %v", repoURL, err)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(listed)
	if err != nil {
		return "", fmt.Errorf("the index lists the URL %q: %v", listed, err)
	}
	u := b.ResolveReference(ref)
	if u.Scheme != "https" {
		return "", fmt.Errorf("the index lists the URL %s: the App Store reads https only", u)
	}
	return u.String(), nil
}

// download reads the archive at rawURL within the size limit and verifies it.
func (s *Syncer) download(ctx context.Context, repo *v1alpha1.Repo, rawURL string, v *index.Version) ([]byte, error) {
	release, err := s.slot(ctx, "GET "+rawURL)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := s.repoClient(repo, chartTimeout)
	if err != nil {
		return nil, err
	}
	// identity: a server that adds Content-Encoding gzip to a .tgz would otherwise have
	// the transport unpack it, and the digest would never match.
	resp, err := c.get(ctx, rawURL, http.Header{
		"Accept":          {"application/gzip, application/x-gzip, application/octet-stream;q=0.9, */*;q=0.1"},
		"Accept-Encoding": {"identity"},
	})
	if err != nil {
		if reasonOf(err) == appstore.RepoReasonNotFound {
			// The index names an archive that is not there: the repository's fault, and
			// not this API's NotFound (the version exists).
			return nil, failed(appstore.ChartReasonInvalid, "%v: the index lists an archive that is not there", err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, failed(appstore.RepoReasonUnreachable, "GET %s: %s", rawURL, resp.Status)
	}
	data, sum, err := readCapped(resp, rawURL, s.maxChart, appstore.ChartReasonTooLarge, "chart archive", "cluster-apiserver's chart limit")
	if err != nil {
		return nil, err
	}
	if v.HasDigest() && sum != v.Digest {
		return nil, failed(appstore.ChartReasonDigestMismatch,
			"GET %s: the archive's digest is sha256:%s, the index lists sha256:%s: the repository changed the archive without updating its index, or it was altered on the way",
			rawURL, hex.EncodeToString(sum[:]), hex.EncodeToString(v.Digest[:]))
	}
	// A chart is a gzipped tar; refusing anything else also keeps an index that lists no
	// digest from turning this into a reader of arbitrary https pages.
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return nil, failed(appstore.ChartReasonInvalid, "GET %s: not a gzip archive (%d bytes): a chart is a .tgz", rawURL, len(data))
	}
	return data, nil
}

// statusOf turns a failed download of what into the Status a client gets: the source's
// failures are 503 with their Repo reason (a retry may succeed), what the source served
// but this server will not pass on is 502.
func statusOf(what string, err error) error {
	var fe *fetchError
	if !errors.As(err, &fe) {
		// The client left, or its request timed out, while waiting for a shared download.
		return chartStatus(http.StatusServiceUnavailable, appstore.RepoReasonUnreachable, fmt.Sprintf("%s: %v", what, err))
	}
	code := http.StatusServiceUnavailable
	switch fe.reason {
	case appstore.ChartReasonDigestMismatch, appstore.ChartReasonTooLarge, appstore.ChartReasonInvalid:
		code = http.StatusBadGateway
	}
	return chartStatus(int32(code), fe.reason, fmt.Sprintf("%s: %v", what, fe.err))
}

func chartStatus(code int32, reason, message string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReason(reason), Message: message,
	}}
}

func versionNotFound(repoName, chartName, version string) error {
	return apierrors.NewNotFound(appstore.Resource("applicationversions"), fmt.Sprintf("%s %s of Repo %s", chartName, version, repoName))
}
