package localenv

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// appStoreControllerLease is the Lease appstore-controller's leader holds.
const appStoreControllerLease = "kubesphere-appstore-controller"

// StartAppStoreController starts (or restarts) appstore-controller with its own client
// certificate (the user of its ServiceAccount, which artifacts/ grants no more than the
// manifests do), Helm's requests to cluster-apiserver's own port, and waits until it leads.
func (e *Env) StartAppStoreController(ctx context.Context) error {
	const id = "host-appstore-controller"
	if err := e.Stop(id); err != nil {
		return err
	}
	if err := e.start("host", "appstore-controller", "appstore-controller",
		"--kubeconfig="+e.componentKubeconfig(id),
		"--cluster-apiserver-url="+e.ClusterAPIServerURL(),
		"--cluster-apiserver-ca-file="+e.pki.cas["host"].CertFile,
		"--leader-elect-resource-namespace="+ControllerManagerNamespace,
		// One replica: take the Lease at once after a restart.
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		out, err := e.Kubectl(ctx, "host", "", "get", "lease", "-n", ControllerManagerNamespace, appStoreControllerLease,
			"-o", "jsonpath={.spec.renewTime}")
		if renewed, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(out)); err == nil && perr == nil && time.Since(renewed) < 3*time.Second {
			return nil
		}
		if e.Pid(id) == 0 {
			return fmt.Errorf("appstore-controller exited: see %s", e.LogFile(id))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("appstore-controller did not take its Lease %s/%s: see %s", ControllerManagerNamespace, appStoreControllerLease, e.LogFile(id))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
