// Package leaderelect runs a controller binary's work on one replica at a time, elected
// with a Lease on the host; the others stand by and take over when it stops renewing.
package leaderelect

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Options are the leader election flags, named as kube-controller-manager's.
type Options struct {
	LeaderElect        bool
	LeaseNamespace     string
	LeaseName          string
	LeaseDuration      time.Duration
	LeaseRenewDeadline time.Duration
	LeaseRetryPeriod   time.Duration
}

// NewOptions returns election on, with the Lease namespace/name and client-go's usual
// timings.
func NewOptions(namespace, name string) Options {
	return Options{LeaderElect: true, LeaseNamespace: namespace, LeaseName: name,
		LeaseDuration: 15 * time.Second, LeaseRenewDeadline: 10 * time.Second, LeaseRetryPeriod: 2 * time.Second}
}

// AddFlags adds the --leader-elect flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect one active replica with a Lease; turn off only when exactly one replica runs.")
	fs.StringVar(&o.LeaseNamespace, "leader-elect-resource-namespace", o.LeaseNamespace, "Namespace of the Lease.")
	fs.StringVar(&o.LeaseName, "leader-elect-resource-name", o.LeaseName, "Name of the Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a standby waits after the leader's last renewal before it takes over.")
	fs.DurationVar(&o.LeaseRenewDeadline, "leader-elect-renew-deadline", o.LeaseRenewDeadline, "How long the leader keeps trying to renew before it stops working.")
	fs.DurationVar(&o.LeaseRetryPeriod, "leader-elect-retry-period", o.LeaseRetryPeriod, "Time between two attempts to take or renew the Lease.")
}

// Validate reports timings that cannot work.
func (o *Options) Validate() error {
	if o.LeaderElect && !(o.LeaseRetryPeriod < o.LeaseRenewDeadline && o.LeaseRenewDeadline < o.LeaseDuration) {
		return fmt.Errorf("leader election needs retry period < renew deadline < lease duration")
	}
	return nil
}

// Run calls run once: at once when election is off, else when this replica leads. A
// leader that loses the Lease before ctx ends exits the process: another replica may
// already be working, and a restart makes this one a standby.
func Run(ctx context.Context, o Options, leases coordinationv1.LeasesGetter, run func(context.Context)) {
	if !o.LeaderElect {
		run(ctx)
		return
	}
	host, _ := os.Hostname()
	id := host + "_" + uuid.NewString()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaseNamespace, Name: o.LeaseName},
		Client:     leases,
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	// client-go starts run in a goroutine and returns when ctx ends; wait for run to
	// return, so that work it started (a Helm operation) is finished, not cut off by exit.
	var started atomic.Bool
	done := make(chan struct{})
	defer func() {
		if started.Load() {
			<-done
		}
	}()
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, Name: o.LeaseName, ReleaseOnCancel: true,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.LeaseRenewDeadline, RetryPeriod: o.LeaseRetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				started.Store(true)
				defer close(done)
				run(ctx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					klog.InfoS("Lost the lease; exiting", "identity", id)
					os.Exit(1)
				}
			},
			OnNewLeader: func(leader string) { klog.InfoS("Leader", "identity", leader, "self", leader == id) },
		},
	})
}
