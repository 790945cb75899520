package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/hack/bench/internal/bench"
	"kubesphere.io/multicluster/pkg/appstore/index"
	"kubesphere.io/multicluster/pkg/appstore/index/indexgen"
)

// indexRepoPrefix names the index part's Repos: one per cold sync, so that each is read
// whole by a syncer that has never seen it.
const indexRepoPrefix = "bench-index-"

// indexBench is the index part: a generated index served by the bench, synced through
// Repos of the running cluster-apiserver, and the same reads done by the bench itself.
type indexBench struct {
	o        *options
	api      clientset.Interface // the host admin's, not throttled
	srv      *indexServer
	data     []byte
	charts   int
	versions int
	roots    *x509.CertPool
	keep     *http.Client // the floor's kept-alive connection
	floorVal http.Header  // the validators the server gave the floor

	cold, coldFloor, parse         []time.Duration
	allocRatio                     []float64
	resync, resyncSeen             []time.Duration
	floorNewConn, floorKeepAlive   []time.Duration
	rssBefore, rssLoaded, rssAfter rss
	rssSteady                      rss
	rssSteadyAt, rssAfterAt        time.Duration
	rssAfterErr                    error
	made                           []string
}

func runIndex(ctx context.Context, e *env) error {
	o := e.o
	b := &indexBench{o: o, data: indexgen.Bitnami(o.indexCharts, o.indexVersions)}
	// client-go's default limit (5 requests a second, bursts of 10) held back the create
	// of the fifth cold round by 200 ms: the bench times its own requests, so it does not
	// queue them.
	cfg := rest.CopyConfig(e.cfg)
	cfg.QPS = -1
	var err error
	if b.api, err = clientset.NewForConfig(cfg); err != nil {
		return err
	}
	snap, err := index.Parse(b.data)
	if err != nil {
		return fmt.Errorf("the generated index does not parse: %w", err)
	}
	b.charts, b.versions = snap.Counts()
	if b.srv, err = serveIndex(o.indexAddr, b.data); err != nil {
		return err
	}
	defer b.srv.close()
	b.roots = x509.NewCertPool()
	b.roots.AppendCertsFromPEM(b.srv.caPEM)
	b.keep = &http.Client{Transport: b.transport(), Timeout: time.Minute}
	defer b.keep.CloseIdleConnections()
	defer b.cleanUp()
	fmt.Fprintf(os.Stderr, "index: %.1f MB, %d charts, %d versions at %sindex.yaml\n",
		float64(len(b.data))/1e6, b.charts, b.versions, b.srv.url)

	// The floor's validators, and its kept-alive connection, from one whole read.
	resp, _, err := b.floorGet(ctx, b.keep, nil)
	if err != nil {
		return err
	}
	b.floorVal = http.Header{}
	if v := resp.Header.Get("ETag"); v != "" {
		b.floorVal.Set("If-None-Match", v)
	}
	if v := resp.Header.Get("Last-Modified"); v != "" {
		b.floorVal.Set("If-Modified-Since", v)
	}

	// Repos an interrupted run left behind would be a failed create, or not cold.
	left, err := b.api.AppstoreV1alpha1().Repos().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, r := range left.Items {
		if strings.HasPrefix(r.Name, indexRepoPrefix) {
			if err := b.deleteRepo(ctx, r.Name); err != nil {
				return err
			}
		}
	}

	if b.rssBefore, err = readRSS(o.apiserverPidFile); err != nil {
		return err
	}
	var repo *v1alpha1.Repo
	for r := 1; r <= o.coldRounds; r++ {
		name := fmt.Sprintf("%s%d", indexRepoPrefix, r)
		// Turns alternate, so that neither always runs on what the other left behind.
		steps := []func() error{
			func() (err error) { repo, err = b.coldSync(ctx, name); return err },
			func() error { return b.coldRead(ctx) },
		}
		if r%2 == 0 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("cold round %d: %w", r, err)
			}
		}
		if r < o.coldRounds {
			if err := b.deleteRepo(ctx, name); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%d cold syncs done\n", o.coldRounds)
	for r := 1; r <= o.resyncRounds; r++ {
		if repo, err = b.resyncRound(ctx, r, repo); err != nil {
			return fmt.Errorf("re-sync round %d: %w", r, err)
		}
	}
	fmt.Fprintf(os.Stderr, "%d re-syncs done\n", o.resyncRounds)
	if b.rssLoaded, err = readRSS(o.apiserverPidFile); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "watching cluster-apiserver's memory for %s with the Repo loaded\n", o.rssSettle)
	if b.rssSteady, b.rssSteadyAt, err = lowestRSS(o.apiserverPidFile, o.rssSettle); err != nil {
		return err
	}
	if err := b.deleteRepo(ctx, repo.Name); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "watching cluster-apiserver's memory for %s after the delete\n", o.rssSettle)
	b.rssAfter, b.rssAfterAt, b.rssAfterErr = lowestRSS(o.apiserverPidFile, o.rssSettle)
	b.print()
	return nil
}

// transport is a new one, as the syncer builds for each sync: a clone of Go's default
// with the index server's CA.
func (b *indexBench) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = &tls.Config{RootCAs: b.roots}
	return t
}

// floorGet is the bench's own GET of the index with the syncer's Accept header and
// validators; it reads the body whole.
func (b *indexBench) floorGet(ctx context.Context, c *http.Client, validators http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.url+"index.yaml", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/yaml, application/json;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", floorAgent)
	for k, v := range validators {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	want := http.StatusOK
	if validators != nil {
		want = http.StatusNotModified
	}
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("floor GET: %s, want %d", resp.Status, want)
	}
	if want == http.StatusOK && len(body) != len(b.data) {
		return nil, nil, fmt.Errorf("floor GET: %d bytes, want %d", len(body), len(b.data))
	}
	return resp, body, nil
}

// coldRead is what a cold sync cannot do without: a whole read on a new connection and
// a parse, in the bench's own process. The parse is timed and its allocation counted
// apart as well.
func (b *indexBench) coldRead(ctx context.Context) error {
	c := &http.Client{Transport: b.transport(), Timeout: time.Minute}
	defer c.CloseIdleConnections()
	start := time.Now()
	_, body, err := b.floorGet(ctx, c, nil)
	if err != nil {
		return err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parseStart := time.Now()
	if _, err := index.Parse(body); err != nil {
		return err
	}
	end := time.Now()
	runtime.ReadMemStats(&after)
	b.coldFloor = append(b.coldFloor, end.Sub(start))
	b.parse = append(b.parse, end.Sub(parseStart))
	b.allocRatio = append(b.allocRatio, float64(after.TotalAlloc-before.TotalAlloc)/float64(len(body)))
	return nil
}

func (b *indexBench) watch(ctx context.Context, name, rv string) (watch.Interface, error) {
	return b.api.AppstoreV1alpha1().Repos().Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
}

// untilRepo reads w until done says yes, and returns that Repo and when it came.
func untilRepo(w watch.Interface, done func(*v1alpha1.Repo) (bool, error)) (*v1alpha1.Repo, time.Time, error) {
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return nil, time.Time{}, apierrors.FromObject(ev.Object)
		}
		r, ok := ev.Object.(*v1alpha1.Repo)
		if !ok {
			continue
		}
		if ok, err := done(r); err != nil || ok {
			return r, time.Now(), err
		}
	}
	return nil, time.Time{}, fmt.Errorf("the watch ended first")
}

// synced reports whether r's last sync of its generation succeeded; a failed one is an
// error naming the reason.
func synced(r *v1alpha1.Repo) (bool, error) {
	c := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.RepoSynced)
	if c == nil || c.ObservedGeneration != r.Generation {
		return false, nil
	}
	if c.Status != metav1.ConditionTrue {
		return false, fmt.Errorf("Repo %s: Synced %s, %s: %s", r.Name, c.Status, c.Reason, c.Message)
	}
	if c.Reason != v1alpha1.RepoReasonSynced {
		return false, fmt.Errorf("Repo %s: Synced with reason %s (%s): not the fast parser", r.Name, c.Reason, c.Message)
	}
	return r.Status.LastSyncTime != nil, nil
}

// coldSync creates Repo name and times it from the create to the status write that
// says Synced, checking the counts and that the server sent the index once.
func (b *indexBench) coldSync(ctx context.Context, name string) (*v1alpha1.Repo, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	w, err := b.watch(ctx, name, "")
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	repo := &v1alpha1.Repo{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.RepoSpec{Source: v1alpha1.RepoSourceIndex, URL: b.srv.url, CABundle: b.srv.caPEM}}
	full := b.srv.count("syncer", http.StatusOK)
	start := time.Now()
	if _, err := b.api.AppstoreV1alpha1().Repos().Create(ctx, repo, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	b.made = append(b.made, name)
	got, at, err := untilRepo(w, synced)
	if err != nil {
		return nil, err
	}
	b.cold = append(b.cold, at.Sub(start))
	fmt.Fprintf(os.Stderr, "Repo %s: Synced in %s\n", name, bench.Ms(at.Sub(start)))
	if int(got.Status.ChartCount) != b.charts || int(got.Status.VersionCount) != b.versions || got.Status.IndexSize != int64(len(b.data)) {
		return nil, fmt.Errorf("Repo %s synced %d charts, %d versions, %d bytes; the index has %d, %d, %d", name,
			got.Status.ChartCount, got.Status.VersionCount, got.Status.IndexSize, b.charts, b.versions, len(b.data))
	}
	if n := b.srv.count("syncer", http.StatusOK) - full; n != 1 {
		return nil, fmt.Errorf("Repo %s: the index was sent %d times for one cold sync", name, n)
	}
	return got, nil
}

// resyncRound asks for one sync of the unchanged index the way the API offers
// (status.syncRequestTime, which the repos/sync subresource is to set) and times it to
// the status write with the new lastSyncTime; then the floor's conditional GETs, on a
// new connection and on a kept-alive one, in an order that turns each round.
func (b *indexBench) resyncRound(ctx context.Context, round int, repo *v1alpha1.Repo) (*v1alpha1.Repo, error) {
	// Times in status have whole seconds: the request and the sync it causes must fall in
	// a later second than the last ones to be told apart.
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
	var next *v1alpha1.Repo
	steps := []func() error{
		func() (err error) { next, err = b.resyncOnce(ctx, repo); return err },
		func() error {
			c := &http.Client{Transport: b.transport(), Timeout: time.Minute}
			defer c.CloseIdleConnections()
			start := time.Now()
			if _, _, err := b.floorGet(ctx, c, b.floorVal); err != nil {
				return err
			}
			b.floorNewConn = append(b.floorNewConn, time.Since(start))
			return nil
		},
		func() error {
			start := time.Now()
			if _, _, err := b.floorGet(ctx, b.keep, b.floorVal); err != nil {
				return err
			}
			b.floorKeepAlive = append(b.floorKeepAlive, time.Since(start))
			return nil
		},
	}
	for i := range steps {
		if err := steps[(i+round)%len(steps)](); err != nil {
			return nil, err
		}
	}
	return next, nil
}

func (b *indexBench) resyncOnce(ctx context.Context, repo *v1alpha1.Repo) (*v1alpha1.Repo, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	w, err := b.watch(ctx, repo.Name, repo.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	full, notModified := b.srv.count("syncer", http.StatusOK), b.srv.count("syncer", http.StatusNotModified)
	asked := metav1.Now()
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"syncRequestTime": asked}})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := b.api.AppstoreV1alpha1().Repos().Patch(ctx, repo.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return nil, err
	}
	askedAt := asked.Rfc3339Copy()
	_, seen, err := untilRepo(w, func(r *v1alpha1.Repo) (bool, error) {
		return r.Status.SyncRequestTime != nil && r.Status.SyncRequestTime.Equal(&askedAt), nil
	})
	if err != nil {
		return nil, err
	}
	got, done, err := untilRepo(w, func(r *v1alpha1.Repo) (bool, error) {
		if ok, err := synced(r); !ok || err != nil {
			return false, err
		}
		return r.Status.LastSyncTime.After(repo.Status.LastSyncTime.Time), nil
	})
	if err != nil {
		return nil, err
	}
	b.resyncSeen = append(b.resyncSeen, seen.Sub(start))
	b.resync = append(b.resync, done.Sub(start))
	fmt.Fprintf(os.Stderr, "re-sync %d: %s (the patch seen after %s)\n", len(b.resync), bench.Ms(done.Sub(start)), bench.Ms(seen.Sub(start)))
	if n, m := b.srv.count("syncer", http.StatusOK)-full, b.srv.count("syncer", http.StatusNotModified)-notModified; n != 0 || m != 1 {
		return nil, fmt.Errorf("Repo %s: a re-sync of the unchanged index got %d whole answers and %d x 304, want 0 and 1", repo.Name, n, m)
	}
	if !got.Status.LastChangeTime.Equal(repo.Status.LastChangeTime) || got.Status.IndexDigest != repo.Status.IndexDigest {
		return nil, fmt.Errorf("Repo %s: a re-sync of the unchanged index changed lastChangeTime or indexDigest", repo.Name)
	}
	return got, nil
}

// deleteRepo deletes Repo name and waits until it is gone and its charts with it.
func (b *indexBench) deleteRepo(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	repos := b.api.AppstoreV1alpha1().Repos()
	if err := repos.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for {
		_, err := repos.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			apps, err := b.api.AppstoreV1alpha1().Applications().List(ctx, metav1.ListOptions{LabelSelector: appstore.RepoLabel + "=" + name})
			if err == nil && len(apps.Items) == 0 {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("Repo %s and its charts not gone: %w", name, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *indexBench) cleanUp() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range b.made {
		_ = b.api.AppstoreV1alpha1().Repos().Delete(ctx, name, metav1.DeleteOptions{})
	}
}

// rss is what /proc/<pid>/status says of a process's memory, in KiB.
type rss struct{ vmRSS, rssAnon, vmHWM int64 }

func readRSS(pidFile string) (rss, error) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return rss{}, fmt.Errorf("cluster-apiserver's pid: %w (make local-up writes it; --apiserver-pid-file)", err)
	}
	f, err := os.Open("/proc/" + strings.TrimSpace(string(raw)) + "/status")
	if err != nil {
		return rss{}, err
	}
	defer f.Close()
	var r rss
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		k, v, _ := strings.Cut(lines.Text(), ":")
		kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			r.vmRSS = kib
		case "RssAnon":
			r.rssAnon = kib
		case "VmHWM":
			r.vmHWM = kib
		}
	}
	return r, lines.Err()
}

// lowestRSS reads pidFile's process's memory every second for settle and returns the
// reading of the lowest VmRSS and when it came: Go gives freed memory back to the system
// in its own time (a forced GC every 2 minutes, then the scavenger), not at the delete.
func lowestRSS(pidFile string, settle time.Duration) (rss, time.Duration, error) {
	start := time.Now()
	low, err := readRSS(pidFile)
	if err != nil {
		return rss{}, 0, err
	}
	at := time.Duration(0)
	for time.Since(start) < settle {
		time.Sleep(time.Second)
		r, err := readRSS(pidFile)
		if err != nil {
			return rss{}, 0, err
		}
		if r.vmRSS < low.vmRSS {
			low, at = r, time.Since(start)
		}
	}
	return low, at, nil
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func (r rss) String() string {
	return fmt.Sprintf("VmRSS %s (anonymous %s), VmHWM %s", mib(r.vmRSS), mib(r.rssAnon), mib(r.vmHWM))
}

func medianP90(ds []time.Duration) string {
	return fmt.Sprintf("%s (%s)", bench.Ms(quantile(ds, 0.5)), bench.Ms(quantile(ds, 0.9)))
}

func median(f []float64) float64 {
	s := slices.Clone(f)
	slices.Sort(s)
	return s[len(s)/2]
}

func ratio(a, b []time.Duration) string {
	return fmt.Sprintf("%.2fx", float64(quantile(a, 0.5))/float64(quantile(b, 0.5)))
}

func (b *indexBench) print() {
	mb := float64(len(b.data)) / 1e6
	fmt.Printf("\nIndex sync through a Repo: a generated index of %.1f MB (%d charts, %d versions) served over HTTPS by the bench;\n"+
		"%d cold syncs (one new Repo each), %d re-syncs of the unchanged index, each interleaved with the floor\n\n",
		mb, b.charts, b.versions, b.o.coldRounds, b.o.resyncRounds)
	syncer, syncerBytes := b.srv.tally("syncer")
	floor, floorBytes := b.srv.tally("floor")
	after := b.rssAfter.String()
	if b.rssAfterErr != nil {
		after = b.rssAfterErr.Error()
	}
	rows := [][3]string{
		{"cold sync: Repo create to `Synced=True` with the counts (fetch, parse, catalog, status)", medianP90(b.cold), ""},
		{"floor: the bench's GET of the index (200, new connection) and `index.Parse`, in its process", medianP90(b.coldFloor), ""},
		{"`index.Parse` of the index in the bench's process", medianP90(b.parse), "<= 1 s"},
		{"bytes `index.Parse` allocated / index size (median)", fmt.Sprintf("%.2fx", median(b.allocRatio)), "<= 10x"},
		{"re-sync of the unchanged index: `status.syncRequestTime` patch to the status write with the new `lastSyncTime`", medianP90(b.resync), "<= 50 ms, no parse"},
		{"... of which the patch itself, to its watch event", medianP90(b.resyncSeen), ""},
		{"floor: the bench's conditional GET (304), new TLS connection (the syncer makes one per sync)", medianP90(b.floorNewConn), ""},
		{"floor: the bench's conditional GET (304), kept-alive connection", medianP90(b.floorKeepAlive), ""},
		{"cold sync / its floor", ratio(b.cold, b.coldFloor), ""},
		{"re-sync / its floor (new connection)", ratio(b.resync, b.floorNewConn), ""},
		{"index server's answers to cluster-apiserver", fmt.Sprintf("%s; %.1f MB of body", syncer, float64(syncerBytes)/1e6), "re-syncs: 304, no body"},
		{"index server's answers to the bench", fmt.Sprintf("%s; %.1f MB of body", floor, float64(floorBytes)/1e6), ""},
		{"cluster-apiserver before the Repo", b.rssBefore.String(), ""},
		{"cluster-apiserver with it loaded, right after the re-syncs", b.rssLoaded.String(), ""},
		{fmt.Sprintf("cluster-apiserver with it loaded: the lowest VmRSS within %s (at %s)", b.o.rssSettle, b.rssSteadyAt.Round(time.Second)), b.rssSteady.String(), ""},
		{fmt.Sprintf("cluster-apiserver after deleting it: the lowest VmRSS within %s (at %s)", b.o.rssSettle, b.rssAfterAt.Round(time.Second)), after, ""},
	}
	fmt.Println("| figure | median (p90), or value | target |")
	fmt.Println("| --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r[0], r[1], r[2])
	}
}
