// Package helmexec runs Helm v4 operations on a member cluster as a release's requester.
// Every call goes to cluster-apiserver's /clusters/<name>/ path with that user's
// impersonation headers, so the host's per-cluster gate and the member's RBAC decide, as
// they do for the user's own kubectl; an Agent member needs nothing more.
package helmexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/pkg/actas"
)

// ErrOperationInProgress is returned when Helm finds the release in a pending state: another
// operation runs or was cut short.
var ErrOperationInProgress = errors.New("another Helm operation on this release is in progress")

var setManager sync.Once

// Executor opens Helm sessions; it holds no per-cluster state.
type Executor struct {
	base *rest.Config
	log  slog.Handler
}

// New returns an Executor that reaches cluster-apiserver as base says (its URL, CA and the
// caller's own credentials) and logs to log.
func New(base *rest.Config, log slog.Handler) *Executor {
	setManager.Do(func() { kube.ManagedFieldsManager = appstore.FieldManager })
	return &Executor{base: rest.CopyConfig(base), log: log}
}

// Target is one release on one cluster, as one user.
type Target struct {
	Cluster   string
	Namespace string
	Release   string
	User      v1alpha1.Requester
}

// Request is what an install or upgrade applies.
type Request struct {
	Chart           *chart.Chart
	Values          map[string]any
	CreateNamespace bool
	Timeout         time.Duration
	// Labels go on Helm's release records (`helm list -l`).
	Labels map[string]string
	// Description is what `helm history` shows for the revision.
	Description string
	// MaxHistory bounds the revisions Helm keeps on the member.
	MaxHistory int
}

// RESTConfig is the client configuration of t: cluster-apiserver's path of the cluster,
// impersonating t's user.
func (e *Executor) RESTConfig(t Target) *rest.Config {
	u := t.User
	c := actas.Config(e.base, t.Cluster, actas.User{Username: u.Username, UID: u.UID, Groups: u.Groups, Extra: u.Extra}, appstore.FieldManager)
	c.QPS, c.Burst = 50, 100
	return c
}

// Session is one operation's Helm on one target: its calls share the clients and the
// discovery, which a request through the proxy makes worth sharing, and nothing else.
type Session struct {
	t   Target
	cfg *action.Configuration
}

// Session opens a session on t.
func (e *Executor) Session(t Target) (*Session, error) {
	g, err := newGetter(e.RESTConfig(t), t.Namespace)
	if err != nil {
		return nil, err
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(e.log))
	if err := cfg.Init(g, t.Namespace, "secret"); err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = t.Namespace
	}
	return &Session{t: t, cfg: cfg}, nil
}

// Install makes revision 1. A failed install is uninstalled again (nothing stays half
// installed) and its error returned.
func (s *Session) Install(ctx context.Context, r Request) (*releasev1.Release, error) {
	t := s.t
	in := action.NewInstall(s.cfg)
	in.Namespace, in.ReleaseName, in.CreateNamespace = t.Namespace, t.Release, r.CreateNamespace
	in.ServerSideApply, in.RollbackOnFailure = true, true
	in.WaitStrategy, in.Timeout = kube.StatusWatcherStrategy, r.Timeout
	in.Labels, in.Description = r.Labels, r.Description
	rel, err := in.RunWithContext(ctx, r.Chart, r.Values)
	return asV1(rel, err)
}

// Upgrade makes a new revision. A failed upgrade stays as a failed revision: the next
// upgrade proceeds from it.
func (s *Session) Upgrade(ctx context.Context, r Request) (*releasev1.Release, error) {
	t := s.t
	up := action.NewUpgrade(s.cfg)
	up.Namespace, up.ServerSideApply, up.MaxHistory = t.Namespace, "true", r.MaxHistory
	// The release's values are the whole of them: none kept from the revision before
	// (Helm would reuse them when none are given), none set on the member by hand.
	up.ResetValues = true
	// The release is what the ApplicationRelease asks for: a field another client changed
	// on the member (its own helm upgrade, kubectl apply) is taken back, as helm upgrade
	// --force-conflicts does, rather than failing every upgrade until someone cleans up.
	up.ForceConflicts = true
	up.WaitStrategy, up.Timeout = kube.StatusWatcherStrategy, r.Timeout
	up.Labels, up.Description = r.Labels, r.Description
	rel, err := up.RunWithContext(ctx, t.Release, r.Chart, r.Values)
	return asV1(rel, err)
}

// Rollback returns the release to revision as a new revision. Helm's rollback takes no
// context; timeout bounds it.
func (s *Session) Rollback(revision int, timeout time.Duration, description string, maxHistory int) error {
	rb := action.NewRollback(s.cfg)
	rb.Version, rb.ServerSideApply, rb.MaxHistory = revision, "true", maxHistory
	rb.ForceConflicts = true // as Upgrade
	rb.WaitStrategy, rb.Timeout, rb.Description = kube.StatusWatcherStrategy, timeout, description
	return classify(rb.Run(s.t.Release))
}

// Uninstall removes the release and its records; a release that is not there is no error.
func (s *Session) Uninstall(timeout time.Duration, description string) error {
	un := action.NewUninstall(s.cfg)
	un.IgnoreNotFound, un.Timeout, un.Description = true, timeout, description
	un.WaitStrategy = kube.StatusWatcherStrategy
	_, err := un.Run(s.t.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	return classify(err)
}

// MarkFailed ends a pending revision that no operation will finish (its operation was cut
// off), as Helm would have recorded a failure: the next upgrade proceeds from it.
func (s *Session) MarkFailed(rel *releasev1.Release, note string) error {
	if rel.Info == nil || !rel.Info.Status.IsPending() {
		return fmt.Errorf("revision %d is %v, not pending", rel.Version, rel.Info)
	}
	rel.SetStatus(rcommon.StatusFailed, note)
	return classify(s.cfg.Releases.Update(rel))
}

// History returns the release's revisions on the member, oldest first; none when the
// release is not there.
func (s *Session) History() ([]*releasev1.Release, error) {
	rels, err := action.NewHistory(s.cfg).Run(s.t.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, classify(err)
	}
	out := make([]*releasev1.Release, 0, len(rels))
	for _, r := range rels {
		v1, ok := r.(*releasev1.Release)
		if !ok {
			return nil, fmt.Errorf("helm returned a %T record", r)
		}
		out = append(out, v1)
	}
	sortByRevision(out)
	return out, nil
}

func asV1(r any, err error) (*releasev1.Release, error) {
	rel, _ := r.(*releasev1.Release)
	return rel, classify(err)
}

// classify names Helm's pending-operation error, which it does not export.
func classify(err error) error {
	if err != nil && strings.Contains(err.Error(), "another operation (install/upgrade/rollback) is in progress") {
		return fmt.Errorf("%w: %v", ErrOperationInProgress, err)
	}
	return err
}

func sortByRevision(rels []*releasev1.Release) {
	for i := 1; i < len(rels); i++ {
		for j := i; j > 0 && rels[j].Version < rels[j-1].Version; j-- {
			rels[j], rels[j-1] = rels[j-1], rels[j]
		}
	}
}
