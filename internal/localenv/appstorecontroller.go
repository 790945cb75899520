package localenv

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// appStoreControllerLease is the Lease appstore-controller's leader holds.
const appStoreControllerLease = "kubesphere-appstore-controller"

// AppStoreControllerID is appstore-controller's id, for Pid, Stop, Kill and LogFile.
const AppStoreControllerID = "host-appstore-controller"

// StartAppStoreController starts (or restarts) appstore-controller with its own client
// certificate (the user of its ServiceAccount, which artifacts/ grants no more than the
// manifests do), Helm's requests to cluster-apiserver's own port, and waits until it leads.
func (e *Env) StartAppStoreController(ctx context.Context) error {
	const id = AppStoreControllerID
	if err := e.Stop(id); err != nil {
		return err
	}
	// The holder before this process: a replica stopped by SIGTERM released the Lease (no
	// holder), one killed still holds it until it expires. Only a new holder is this one.
	before, _ := e.leaseHolder(ctx)
	args := []string{"--kubeconfig=" + e.componentKubeconfig(id),
		"--cluster-apiserver-url=" + e.ClusterAPIServerURL(),
		"--cluster-apiserver-ca-file=" + e.pki.cas["host"].CertFile,
		"--leader-elect-resource-namespace=" + ControllerManagerNamespace,
		// One replica: take the Lease at once after a restart.
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"}
	if e.AppStorePendingGrace > 0 {
		args = append(args, "--pending-revision-grace="+e.AppStorePendingGrace.String())
	}
	if err := e.start("host", "appstore-controller", "appstore-controller", args...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		holder, renewed := e.leaseHolder(ctx)
		if holder != "" && holder != before && time.Since(renewed) < 3*time.Second {
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

// leaseHolder reads appstore-controller's Lease: its holder and last renewal (none when
// it cannot be read).
func (e *Env) leaseHolder(ctx context.Context) (string, time.Time) {
	out, err := e.Kubectl(ctx, "host", "", "get", "lease", "-n", ControllerManagerNamespace, appStoreControllerLease,
		"-o", "jsonpath={.spec.holderIdentity} {.spec.renewTime}")
	if err != nil {
		return "", time.Time{}
	}
	// A released Lease names no holder: the line starts with the space.
	holder, at, _ := strings.Cut(strings.TrimRight(out, "\n"), " ")
	renewed, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return "", time.Time{}
	}
	return holder, renewed
}
