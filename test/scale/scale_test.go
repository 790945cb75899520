// Package scale registers 1,000 Clusters with a real host and a real controller-manager,
// against fake members served by the test, and checks that status is written once per
// cluster and never again while nothing changes, with bounded probe concurrency. It logs
// controller-manager's memory at 0, 100 and 1,000 clusters (figures, not assertions).
package scale

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

var env *localenv.Env

func TestMain(m *testing.M) {
	// No members: the members are fakes served by the test.
	os.Exit(localenv.RunTests("cluster-scale-test", nil, func(e *localenv.Env) int { env = e; return m.Run() }))
}

// fakeMembers answers a member's health probe under /m/<i>/ for any i, each with its own
// kube-system UID, and counts requests and the most in flight at once.
type fakeMembers struct {
	requests, inFlight, maxInFlight atomic.Int64
}

func (f *fakeMembers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.requests.Add(1)
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/m/"), "/", 2)
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	id, path := parts[0], "/"+parts[1]
	w.Header().Set("Content-Type", "application/json")
	switch path {
	case "/readyz", "/healthz":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	case "/version":
		_, _ = io.WriteString(w, `{"major":"1","minor":"36","gitVersion":"v1.36.3-fake"}`)
	case "/api/v1/namespaces/kube-system":
		fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"fake-member-%s"}}`, id)
	case "/api/v1/nodes":
		fmt.Fprintf(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"node-%s","labels":{"topology.kubernetes.io/zone":"zone-a"}}}]}`, id)
	default:
		http.NotFound(w, r)
	}
}

func clients(t *testing.T) (clientset.Interface, kubernetes.Interface) {
	cfg := framework.AdminRESTConfig(t, env, "")
	cfg.QPS, cfg.Burst = -1, 0
	return clientset.NewForConfigOrDie(cfg), kubernetes.NewForConfigOrDie(cfg)
}

// createClusters creates clusters [from, to) in parallel, each with its credentials Secret.
func createClusters(t *testing.T, cs clientset.Interface, kube kubernetes.Interface, endpoint string, ca []byte, from, to int) {
	var wg sync.WaitGroup
	errs := make(chan error, to-from)
	next := atomic.Int64{}
	next.Store(int64(from))
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < to; i = int(next.Add(1) - 1) {
				// One Secret backs one Cluster.
				name := fmt.Sprintf("fake-%04d", i)
				_, err := kube.CoreV1().Secrets(localenv.Namespace).Create(context.Background(), &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials"}, StringData: map[string]string{"token": "fake"},
				}, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- err
					continue
				}
				_, err = cs.ClustersV1alpha1().Clusters().Create(context.Background(), &v1alpha1.Cluster{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{
						Type: v1alpha1.ConnectionDirect, KubernetesAPIEndpoint: endpoint + "/m/" + strconv.Itoa(i), CABundle: ca,
						CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: localenv.Namespace, Name: name + "-credentials"},
					}},
				}, metav1.CreateOptions{})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// waitAllReady waits until n Clusters are Ready and returns how long it took.
func waitAllReady(t *testing.T, cs clientset.Interface, n int, within time.Duration) time.Duration {
	start := time.Now()
	for {
		list, err := cs.ClustersV1alpha1().Clusters().List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		ready := 0
		for _, c := range list.Items {
			if meta.IsStatusConditionTrue(c.Status.Conditions, v1alpha1.ClusterReady) {
				ready++
			}
		}
		if ready == n {
			return time.Since(start)
		}
		require.Less(t, time.Since(start), within, "%d of %d clusters Ready", ready, n)
		time.Sleep(time.Second)
	}
}

// statusWrites is controller-manager's count of successful status writes.
func statusWrites(t *testing.T) int {
	client, err := env.MetricsClient()
	require.NoError(t, err)
	resp, err := client.Get(env.ControllerManagerURL("host-controller-manager") + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, `kubesphere_cluster_status_writes_total{result="ok"} `); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	return 0
}

// rss is controller-manager's resident memory: the total, its anonymous part (heap,
// stacks) and its file-backed part (the binary's pages it touched, page cache that the
// kernel can drop).
func rss(t *testing.T) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", env.Pid("host-controller-manager")))
	require.NoError(t, err)
	mib := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
			mib[name] = float64(kb) / 1024
		}
	}
	return fmt.Sprintf("RSS %.1f MiB (anonymous %.1f, file %.1f)", mib["VmRSS"], mib["RssAnon"], mib["RssFile"])
}

func TestThousandClusters(t *testing.T) {
	fake := &fakeMembers{}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cs, kube := clients(t)
	t.Logf("controller-manager with 0 clusters: %s", rss(t))

	for _, step := range []struct{ from, to int }{{0, 100}, {100, 1000}} {
		start := time.Now()
		createClusters(t, cs, kube, srv.URL, ca, step.from, step.to)
		created := time.Since(start)
		took := waitAllReady(t, cs, step.to, 3*time.Minute)
		writes := statusWrites(t)
		t.Logf("%d clusters: created in %s, all Ready %s later; %d status writes so far; controller-manager %s",
			step.to, created.Round(time.Millisecond), took.Round(time.Second), writes, rss(t))
		// One write makes a new cluster Ready; a second may follow when its first probe
		// raced its creation. Never a storm.
		assert.LessOrEqual(t, writes, 2*step.to, "status writes for %d clusters", step.to)
	}

	// Steady: probes go on, bounded by --probe-workers (20), and nothing is written.
	before, requests := statusWrites(t), fake.requests.Load()
	time.Sleep(25 * time.Second)
	probes := (fake.requests.Load() - requests) / 4 // readyz, version, kube-system, nodes
	t.Logf("steady 25 s: %d probes, %d status writes, at most %d requests in flight; controller-manager %s",
		probes, statusWrites(t)-before, fake.maxInFlight.Load(), rss(t))
	assert.Equal(t, before, statusWrites(t), "no status writes while nothing changes")
	assert.GreaterOrEqual(t, probes, int64(1000), "every cluster probed at least once in 25 s (interval 10 s)")
	assert.LessOrEqual(t, fake.maxInFlight.Load(), int64(20), "probe concurrency bounded by --probe-workers")
}
