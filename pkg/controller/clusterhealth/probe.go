package clusterhealth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/pkg/clusterconn"
	"kubesphere.io/multicluster/pkg/tunnel"
)

// Reasons of the Ready condition. Each says what to look at.
const (
	ReasonReady                = "ClusterReady"
	ReasonNotReady             = "APIServerNotReady"    // /readyz answered, but not ok
	ReasonUnreachable          = "Unreachable"          // no connection, or no answer in time
	ReasonUnauthorized         = "Unauthorized"         // the member refused the credential (401)
	ReasonForbidden            = "Forbidden"            // the credential lacks a right the probe needs (403)
	ReasonCertificateExpired   = "CertificateExpired"   // a certificate on the way has expired
	ReasonCertificateUntrusted = "CertificateUntrusted" // the member's certificate is not signed by the CA we hold
	ReasonCredentialsInvalid   = "CredentialsInvalid"   // the Cluster or its Secret cannot make a connection
	ReasonIdentityMismatch     = "IdentityMismatch"     // the credential reaches a different cluster than before
	ReasonDuplicate            = "DuplicateCluster"     // another Cluster already claims this member
	ReasonProbing              = "Probing"              // not yet probed enough times to change
	ReasonAgentDisconnected    = "AgentDisconnected"    // no tower proxy has a tunnel from the cluster's agent
)

// observation is what one probe saw.
type observation struct {
	healthy         bool
	reason, message string

	version string
	nodes   int32
	zones   []string
	uid     string
}

// probe asks the member's /readyz (falling back to /healthz), then reads its version, its
// identity (the kube-system namespace's UID) and its nodes.
func probe(ctx context.Context, cfg *rest.Config) observation {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return failed(ReasonCredentialsInvalid, err)
	}
	rc := cs.Discovery().RESTClient()
	body, err := rc.Get().AbsPath("/readyz").DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		body, err = rc.Get().AbsPath("/healthz").DoRaw(ctx)
	}
	if err != nil {
		if statusErr := (apierrors.APIStatus)(nil); errors.As(err, &statusErr) && statusErr.Status().Code >= 500 {
			return observation{reason: ReasonNotReady, message: "the API server is not ready: " + failedChecks(string(body), err)}
		}
		return failed("", err)
	}
	var o observation
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return failed("", fmt.Errorf("reading /version: %w", err))
	}
	o.version = v.GitVersion
	ns, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return failed("", fmt.Errorf("reading the kube-system namespace (the cluster's identity): %w", err))
	}
	o.uid = string(ns.UID)
	// From the watch cache: a probe must not cost the member a quorum read of every node.
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return failed("", fmt.Errorf("listing nodes: %w", err))
	}
	o.nodes, o.zones = summarize(nodes.Items)
	o.healthy, o.reason, o.message = true, ReasonReady, "the API server is ready"
	return o
}

// summarize counts every Node object (Ready or not: the count is the cluster's size) and
// collects the distinct standard topology zones.
func summarize(nodes []corev1.Node) (int32, []string) {
	seen := map[string]bool{}
	var zones []string
	for _, n := range nodes {
		if z := n.Labels[corev1.LabelTopologyZone]; z != "" && !seen[z] {
			seen[z] = true
			zones = append(zones, z)
		}
	}
	sort.Strings(zones)
	return int32(len(nodes)), zones
}

// failedToConnect is the observation when no connection could be made: a member that
// is another cluster than the pinned one, one that cannot be reached to verify it, or
// a Cluster or Secret that make no connection at all.
func failedToConnect(err error) observation {
	var mismatch *clusterconn.IdentityError
	switch {
	case errors.As(err, &mismatch):
		return failed(ReasonIdentityMismatch, err)
	case errors.Is(err, clusterconn.ErrUnverified):
		return failed("", err)
	}
	return failed(ReasonCredentialsInvalid, err)
}

// failed classifies err into a reason a user can act on; reason overrides it when set.
func failed(reason string, err error) observation {
	if reason == "" {
		reason = classify(err)
	}
	return observation{reason: reason, message: err.Error()}
}

func classify(err error) string {
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var netErr net.Error
	switch {
	case errors.As(err, new(tunnel.ErrAgentNotConnected)):
		return ReasonAgentDisconnected
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return ReasonCertificateExpired
	case errors.As(err, &unknown):
		return ReasonCertificateUntrusted
	case apierrors.IsUnauthorized(err):
		return ReasonUnauthorized
	case apierrors.IsForbidden(err):
		return ReasonForbidden
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return ReasonUnreachable
	}
	// Connection refused and resets arrive as *net.OpError (a net.Error) in most cases;
	// anything else that never got an HTTP answer is unreachable too.
	if apierrors.ReasonForError(err) == metav1.StatusReasonUnknown && !isStatus(err) {
		return ReasonUnreachable
	}
	return ReasonNotReady
}

func isStatus(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s)
}

// failedChecks are the "[-]name failed" lines of a verbose /readyz answer.
func failedChecks(body string, err error) string {
	var failed []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			failed = append(failed, strings.TrimPrefix(l, "[-]"))
		}
	}
	if len(failed) == 0 {
		return err.Error()
	}
	return strings.Join(failed, "; ")
}
