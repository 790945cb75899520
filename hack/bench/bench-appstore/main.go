// Command bench-appstore measures what installing through the App Store costs against the
// running local environment (make local-up): for each member, the same chart installed
// with `helm install --wait=watcher` straight to the member as its admin (the floor: Helm
// alone, nothing of ours), and through an ApplicationRelease as the developer, from create
// to Ready (appstore-controller runs the same Helm install through cluster-apiserver's
// proxy, impersonating the developer, and writes status). Rounds interleave the two routes
// so both see the same machine. `make bench-appstore` runs it.
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
}

func main() {
	o := &options{}
	members := ""
	flag.StringVar(&o.kubeconfig, "kubeconfig", "_output/local/kubeconfig", "Kubeconfig written by make local-up (contexts host and <member>).")
	flag.StringVar(&o.bin, "bin", "_output/bin", "Folder of the kubectl and helm binaries make tools builds.")
	flag.StringVar(&o.chartRepo, "chart-repo", "https://127.0.0.1:19443/", "The local HTTPS chart repository.")
	flag.StringVar(&o.caFile, "ca-file", "_output/local/pki/host-ca.crt", "CA of the chart repository's certificate.")
	flag.StringVar(&o.chart, "chart", "hello", "Chart to install.")
	flag.StringVar(&o.version, "version", "0.1.0", "Chart version to install.")
	flag.StringVar(&o.namespace, "namespace", "default", "Namespace on the members (the developer may edit default).")
	flag.StringVar(&members, "members", "member1,member2", "Members to install on, comma-separated (member1 Direct, member2 Agent in make local-up).")
	flag.IntVar(&o.rounds, "rounds", 10, "Installs per route and member.")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "Bound of one install.")
	flag.Parse()
	o.members = strings.Split(members, ",")
	if o.rounds < 1 {
		fmt.Fprintln(os.Stderr, "--rounds must be at least 1")
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
