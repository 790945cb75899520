package clusterconn

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// A member's identity is the UID of its kube-system namespace: it survives restarts and
// upgrades, and a rebuilt or different cluster has another. A Cluster's status.uid pins
// it the first time a host component verified it (controller-manager's health probe);
// from then on every new connection to the member is checked against it before it
// carries anything, so credentials, an endpoint or a tunnel that lead to another cluster
// are refused at once, not at the next probe.

// identityPath is read with the host's own credential (Direct) or the agent's (Agent).
const identityPath = "/api/v1/namespaces/kube-system"

// identityTimeout bounds one verification: a member that does not answer it in time is
// unreachable, as for any request.
const identityTimeout = 10 * time.Second

// ErrUnverified wraps the reason a member's identity could not be read: it is treated like
// any failure to reach the member (503), never as a pass.
var ErrUnverified = errors.New("its identity could not be verified")

// ReasonIdentityMismatch is the reason of the Status a mismatched member is refused with.
const ReasonIdentityMismatch metav1.StatusReason = "IdentityMismatch"

// IdentityError says that a connection reached a member other than the one the Cluster is
// pinned to. It is a Kubernetes Status (502: the gateway is fine, the cluster behind it is
// not the one asked for), distinct from the 503 of an unreachable member.
type IdentityError struct {
	Cluster, Expected, Found string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("cluster %q answered with identity %s (its kube-system namespace UID), but the Cluster is pinned to %s: "+
		"its credentials, endpoint or agent lead to another cluster, and no request is sent to it. Restore them, or, if the "+
		"member was rebuilt on purpose, clear status.uid of the Cluster (clusters/status) so that it is verified and pinned again",
		e.Cluster, e.Found, e.Expected)
}

// Status makes the error a Kubernetes Status (apierrors.APIStatus).
func (e *IdentityError) Status() metav1.Status {
	return metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadGateway, Reason: ReasonIdentityMismatch, Message: e.Error(),
		Details: &metav1.StatusDetails{Name: e.Cluster, Group: v1alpha1.GroupName, Kind: "clusters"},
	}
}

// expect compares what a connection found with what the Cluster pins; an unpinned Cluster
// accepts any identity (the probe that pins it needs to see one).
func expect(cluster, pinned, found string) error {
	if pinned != "" && found != pinned {
		return &IdentityError{Cluster: cluster, Expected: pinned, Found: found}
	}
	return nil
}

// identityRequest asks the API server at endpoint for its kube-system namespace.
func identityRequest(ctx context.Context, endpoint string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+identityPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// namespaceUID reads the UID out of a Namespace in a response.
func namespaceUID(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading its kube-system namespace: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The member's own Status, when it sent one, so that 401 and 403 read as such.
		var status metav1.Status
		if json.Unmarshal(body, &status) == nil && status.Kind == "Status" && status.Code == int32(resp.StatusCode) {
			return "", fmt.Errorf("reading its kube-system namespace: %w", &apierrors.StatusError{ErrStatus: status})
		}
		return "", fmt.Errorf("reading its kube-system namespace answered %s: %s", resp.Status, truncate(body))
	}
	var ns struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &ns); err != nil || ns.Kind != "Namespace" || ns.Metadata.Name != "kube-system" || ns.Metadata.UID == "" {
		return "", fmt.Errorf("reading its kube-system namespace (the cluster's identity) gave no Namespace with a UID: %s", truncate(body))
	}
	return ns.Metadata.UID, nil
}

func truncate(b []byte) string {
	if len(b) > 256 {
		return string(b[:256]) + "..."
	}
	return string(b)
}

// directIdentity is a Direct backend's identity: read on connections of its own, once per
// backend (a backend is rebuilt whenever the endpoint, CA, credentials or pin change), and
// bound to the serving key of the API server that answered. A connection of the backend's
// transport to any other key (the endpoint's name now leads elsewhere) is refused, and the
// member is verified again before anything more is sent.
type directIdentity struct {
	cluster   string
	transport *http.Transport

	mu    sync.Mutex
	found string // the kube-system UID read; "" until read, or after the key changed
	key   string // SHA-256 of the serving key of the server that answered
	// inflight is closed when the verification under way ends; callers wait on it or on
	// their own context, not on a lock.
	inflight chan struct{}
	// failed and failedAt keep a failed verification for a moment, so that a dead member
	// costs one attempt per failureHold, not one per request.
	failed   error
	failedAt time.Time
}

// failureHold is how long a failed verification is answered from memory.
const failureHold = 2 * time.Second

func (d *directIdentity) get(ctx context.Context, endpoint, bearer string) (string, error) {
	for {
		d.mu.Lock()
		if d.found != "" {
			found := d.found
			d.mu.Unlock()
			return found, nil
		}
		if d.inflight == nil {
			if d.failed != nil && time.Since(d.failedAt) < failureHold {
				err := d.failed
				d.mu.Unlock()
				return "", err
			}
			d.inflight = make(chan struct{})
			go d.verify(endpoint, bearer, d.inflight)
		}
		wait := d.inflight
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// verify reads the member's identity, detached from any one caller: the callers waiting
// for it may give up, the result is kept for the next.
func (d *directIdentity) verify(endpoint, bearer string, done chan struct{}) {
	uid, key, err := d.read(endpoint, bearer)
	d.mu.Lock()
	d.found, d.key, d.failed, d.failedAt, d.inflight = uid, key, err, time.Now(), nil
	d.mu.Unlock()
	close(done)
}

func (d *directIdentity) read(endpoint, bearer string) (uid, key string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
	defer cancel()
	req, err := identityRequest(ctx, endpoint)
	if err != nil {
		return "", "", err
	}
	resp, err := bearerTransport{d.transport, bearer}.RoundTrip(req)
	if err != nil {
		return "", "", err
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		_ = resp.Body.Close()
		return "", "", fmt.Errorf("the API server presented no certificate")
	}
	key = keyOf(resp.TLS.PeerCertificates[0])
	uid, err = namespaceUID(resp)
	return uid, key, err
}

// verifyPeer is the backend transport's tls.Config.VerifyConnection: only the key of the
// server whose identity was read is accepted.
func (d *directIdentity) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("cluster %q: %w: the API server presented no certificate", d.cluster, ErrUnverified)
	}
	key := keyOf(cs.PeerCertificates[0])
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.key != "" && key == d.key {
		return nil
	}
	if d.key != "" && d.inflight == nil {
		d.found = "" // verified again on the next request
	}
	return fmt.Errorf("cluster %q: %w: its API server's serving key is not the one its identity was read from (it changed, or the endpoint now leads to another server); it is verified again on the next request", d.cluster, ErrUnverified)
}

func keyOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// tunnelIdentities are the identities seen over an Agent cluster's tunnels, by tunnel:
// each new tunnel (an agent that connected or reconnected, to any tower proxy) is
// verified on its first stream, before that stream carries a request.
type tunnelIdentities struct {
	pinned string // fixed for the backend's life

	mu   sync.Mutex
	seen map[string]string
}

// maxTunnels bounds what is remembered: an agent holds one tunnel per tower proxy, and
// forgetting an old one only costs a verification.
const maxTunnels = 16

// check verifies conn, a fresh stream of tunnel id, before it is used. A stream whose
// tunnel is unnamed (a tower proxy that does not say) is verified on its own.
func (t *tunnelIdentities) check(ctx context.Context, cluster, id string, conn net.Conn) error {
	t.mu.Lock()
	found, known := t.seen[id]
	t.mu.Unlock()
	if !known || id == "" {
		var err error
		if found, err = identityOverStream(ctx, cluster, conn); err != nil {
			return fmt.Errorf("cluster %q: %w (over a new tunnel of its agent): %w", cluster, ErrUnverified, err)
		}
		if id != "" {
			t.mu.Lock()
			if t.seen == nil || len(t.seen) >= maxTunnels {
				t.seen = map[string]string{}
			}
			t.seen[id] = found
			t.mu.Unlock()
		}
	}
	return expect(cluster, t.pinned, found)
}

// identityOverStream asks the member for its kube-system namespace over conn itself (HTTP/1.1,
// as everything over a tunnel stream is spoken), and leaves conn ready for the request it
// was dialed for.
func identityOverStream(ctx context.Context, cluster string, conn net.Conn) (string, error) {
	deadline := time.Now().Add(identityTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	req, err := identityRequest(ctx, "http://"+cluster)
	if err != nil {
		return "", err
	}
	if err := req.Write(conn); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return "", err
	}
	if resp.Close {
		_ = resp.Body.Close()
		return "", fmt.Errorf("the agent closed the stream after the identity check")
	}
	uid, err := namespaceUID(resp)
	if err != nil {
		return "", err
	}
	if br.Buffered() > 0 {
		// Nothing may follow the answer before the next request: what did is not HTTP.
		return "", fmt.Errorf("the agent sent %d bytes after its answer", br.Buffered())
	}
	return uid, nil
}
