// Command bench-appstore measures the App Store against the running local environment
// (make local-up), in two parts (--parts).
//
// install: for each member, the same chart installed with `helm install --wait=watcher`
// straight to the member as its admin (the floor: Helm alone, nothing of ours), and
// through an ApplicationRelease as the developer, from create to Ready (appstore-controller
// runs the same Helm install through cluster-apiserver's proxy, impersonating the
// developer, and writes status). Rounds interleave the two routes so both see the same
// machine.
//
// index: a generated Bitnami-shaped index (15 MB, 15,000 versions) served by the bench
// over HTTPS on 127.0.0.1, synced through Repos of cluster-apiserver: cold (Repo create to
// Synced) and re-synced unchanged (a sync request to the status write), beside the same
// reads done by the bench itself, with cluster-apiserver's memory before, during and after.
//
// `make bench-appstore` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"kubesphere.io/multicluster/hack/bench/internal/bench"
)

type options struct {
	kubeconfig, bin, chartRepo, caFile, chart, version, namespace string
	members                                                       []string
	rounds                                                        int
	timeout                                                       time.Duration

	parts                       []string
	indexCharts, indexVersions  int
	coldRounds, resyncRounds    int
	indexAddr, apiserverPidFile string
	rssSettle                   time.Duration
}

var knownParts = []string{"install", "index"}

func main() {
	o := &options{}
	members, parts := "", ""
	flag.StringVar(&parts, "parts", "install,index", "Parts to run, in this order, comma-separated: install (ApplicationRelease against helm install), index (a 15 MB index synced through a Repo).")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "_output/local/kubeconfig", "Kubeconfig written by make local-up (contexts host and <member>).")
	flag.StringVar(&o.bin, "bin", "_output/bin", "Folder of the kubectl and helm binaries make tools builds.")
	flag.StringVar(&o.chartRepo, "chart-repo", "https://127.0.0.1:19443/", "The local HTTPS chart repository.")
	flag.StringVar(&o.caFile, "ca-file", "_output/local/pki/host-ca.crt", "CA of the chart repository's certificate.")
	flag.StringVar(&o.chart, "chart", "hello", "Chart to install.")
	flag.StringVar(&o.version, "version", "0.1.0", "Chart version to install.")
	flag.StringVar(&o.namespace, "namespace", "default", "Namespace on the members (the developer may edit default).")
	flag.StringVar(&members, "members", "member1,member2", "Members to install on, comma-separated (member1 Direct, member2 Agent in make local-up).")
	flag.IntVar(&o.rounds, "rounds", 10, "Installs per route and member.")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "Bound of one install, and of one sync of the index part.")
	flag.IntVar(&o.indexCharts, "index-charts", 150, "Index part: charts in the generated index.")
	flag.IntVar(&o.indexVersions, "index-versions", 100, "Index part: versions of each chart (about 1 KB each).")
	flag.IntVar(&o.coldRounds, "cold-rounds", 5, "Index part: cold syncs, each of a new Repo (the last one stays for the re-syncs).")
	flag.IntVar(&o.resyncRounds, "resync-rounds", 20, "Index part: re-syncs of the unchanged index (at least a second apart: status times have whole seconds).")
	flag.StringVar(&o.indexAddr, "index-addr", "127.0.0.1:0", "Index part: loopback address the bench serves the index on (port 0: any free one).")
	flag.StringVar(&o.apiserverPidFile, "apiserver-pid-file", "_output/local/pids/host-cluster-apiserver.pid", "Index part: pid file of cluster-apiserver, whose /proc/<pid>/status memory is reported.")
	flag.DurationVar(&o.rssSettle, "rss-settle", 4*time.Minute, "Index part: how long to watch cluster-apiserver's memory with the Repo loaded, and again after it is deleted; the lowest reading of each is reported. Go forces a GC every 2 minutes, and the loaded reading settled after the second. 0s: one reading each.")
	flag.Parse()
	o.members = strings.Split(members, ",")
	for _, p := range strings.Split(parts, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(knownParts, p) || slices.Contains(o.parts, p) {
			fmt.Fprintf(os.Stderr, "--parts: %q is not one of %s, or twice\n", p, strings.Join(knownParts, ", "))
			os.Exit(2)
		}
		o.parts = append(o.parts, p)
	}
	if o.rounds < 1 || o.coldRounds < 1 || o.resyncRounds < 1 {
		fmt.Fprintln(os.Stderr, "--rounds, --cold-rounds and --resync-rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-appstore:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options) error {
	e, err := newEnv(o)
	if err != nil {
		return err
	}
	defer os.RemoveAll(e.dir)
	for _, part := range o.parts {
		if part == "index" {
			err = runIndex(ctx, e)
		} else {
			err = runInstall(ctx, e)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
	}
	return nil
}

func runInstall(ctx context.Context, e *env) error {
	o := e.o
	defer e.cleanUp()
	if err := e.setUp(ctx); err != nil {
		return err
	}
	type row struct{ member, route string }
	times := map[row][]time.Duration{}
	for r := 1; r <= o.rounds; r++ {
		for _, m := range o.members {
			name := fmt.Sprintf("bench-%d", r)
			d, err := e.helmInstall(ctx, m, name)
			if err != nil {
				return fmt.Errorf("round %d, %s, helm install: %w", r, m, err)
			}
			times[row{m, "helm"}] = append(times[row{m, "helm"}], d)
			if d, err = e.storeInstall(ctx, m, name); err != nil {
				return fmt.Errorf("round %d, %s, ApplicationRelease: %w", r, m, err)
			}
			times[row{m, "store"}] = append(times[row{m, "store"}], d)
		}
		fmt.Fprintf(os.Stderr, "round %d of %d done\n", r, o.rounds)
	}
	fmt.Printf("Install of %s %s to Deployed (Helm's watcher wait), %d rounds, routes interleaved\n\n", o.chart, o.version, o.rounds)
	fmt.Println("| member | helm install straight to the member: median (p90) | ApplicationRelease, create to Ready: median (p90) | ratio of medians (target <= 1.3x) |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, m := range o.members {
		h, s := times[row{m, "helm"}], times[row{m, "store"}]
		fmt.Printf("| %s | %s (%s) | %s (%s) | %.2fx |\n", m, bench.Ms(quantile(h, 0.5)), bench.Ms(quantile(h, 0.9)),
			bench.Ms(quantile(s, 0.5)), bench.Ms(quantile(s, 0.9)), float64(quantile(s, 0.5))/float64(quantile(h, 0.5)))
	}
	return nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
