package apprelease

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
)

// maxCachedCharts bounds the archives kept in memory, by total size.
const maxCachedCharts = 32 << 20

// charts downloads chart archives from cluster-apiserver (which holds the repositories'
// credentials; this controller holds none) and keeps recent ones by digest.
type charts struct {
	client clientset.Interface
	// flights makes the clusters of a release, which install in parallel, share one
	// download of their chart.
	flights singleflight.Group
	mu      sync.Mutex
	cache   map[string][]byte
	order   []string
	size    int
}

func newCharts(client clientset.Interface) *charts {
	return &charts{client: client, cache: map[string][]byte{}}
}

// chartError is a chart that cannot be had, with the reason status shows.
type chartError struct {
	reason string
	err    error
}

func (e *chartError) Error() string { return e.err.Error() }

// load returns the chart of application at version, verified against the version's digest.
func (c *charts) load(ctx context.Context, application, version string) (*chart.Chart, error) {
	sel := fields.AndSelectors(fields.OneTermEqualSelector("spec.application", application),
		fields.OneTermEqualSelector("spec.version", version))
	list, err := c.client.AppstoreV1alpha1().ApplicationVersions().List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, &chartError{"ChartUnavailable", fmt.Errorf("finding version %s of %s: %w", version, application, err)}
	}
	if len(list.Items) == 0 {
		return nil, &chartError{"VersionNotInIndex", fmt.Errorf("version %s of application %s is not in its repository now", version, application)}
	}
	v := list.Items[0]
	if v.Status.State != "" && v.Status.State != v1alpha1.AppStateActive {
		return nil, &chartError{appstore.VersionReasonNotActive, fmt.Errorf("version %s of application %s is %s: only Active versions are installed",
			version, application, v.Status.State)}
	}
	want := strings.TrimPrefix(v.Spec.Digest, "sha256:")
	body, ok := c.get(want)
	if !ok {
		got, err, _ := c.flights.Do(v.Name+"@"+want, func() (any, error) { return c.download(ctx, v.Name, want) })
		if err != nil {
			return nil, err
		}
		body = got.([]byte)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(body))
	if err != nil {
		return nil, &chartError{"InvalidChart", fmt.Errorf("the chart of %s: %w", v.Name, err)}
	}
	return ch, nil
}

// download fetches and verifies the archive of the version named name.
func (c *charts) download(ctx context.Context, name, want string) ([]byte, error) {
	body, err := c.client.AppstoreV1alpha1().RESTClient().Get().Resource("applicationversions").Name(name).SubResource("chart").DoRaw(ctx)
	if err != nil {
		return nil, &chartError{"ChartUnavailable", fmt.Errorf("downloading the chart of %s: %w", name, err)}
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); want != "" && got != want {
		return nil, &chartError{"ChartDigestMismatch", fmt.Errorf("the chart of %s has digest sha256:%s, its repository lists sha256:%s", name, got, want)}
	}
	if want != "" {
		c.put(want, body)
	}
	return body, nil
}

func (c *charts) get(digest string) ([]byte, bool) {
	if digest == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.cache[digest]
	return b, ok
}

// put keeps body, dropping the oldest archives beyond the size bound.
func (c *charts) put(digest string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cache[digest]; ok || len(body) > maxCachedCharts {
		return
	}
	c.cache[digest], c.size = body, c.size+len(body)
	c.order = append(c.order, digest)
	for c.size > maxCachedCharts {
		oldest := c.order[0]
		c.order = c.order[1:]
		c.size -= len(c.cache[oldest])
		delete(c.cache, oldest)
	}
}
