package clusterhealth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/tunnel"
)

func controller(t *testing.T, opts Options, clusters ...*v1alpha1.Cluster) *Controller {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, c := range clusters {
		require.NoError(t, idx.Add(c))
	}
	lister := clusterlisters.NewClusterLister(idx)
	return &Controller{opts: opts, clusters: lister, streaks: map[string]*streak{}, now: time.Now, metrics: newMetrics(lister)}
}

func cluster(name, uid string, ready metav1.ConditionStatus) *v1alpha1.Cluster {
	c := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}}
	c.Status.UID = uid
	if ready != "" {
		c.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ClusterReady, Status: ready, Reason: "x"}}
	}
	return c
}

var (
	healthy = observation{healthy: true, reason: ReasonReady, message: "ok", version: "v1.36.3", nodes: 2, zones: []string{"a"}, uid: "u1"}
	down    = observation{reason: ReasonUnreachable, message: "connection refused"}
)

func readyOf(s *v1alpha1.ClusterStatus) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(s.Conditions, v1alpha1.ClusterReady); c != nil {
		return c.Status
	}
	return ""
}

func TestThresholds(t *testing.T) {
	c := controller(t, Options{FailureThreshold: 3, SuccessThreshold: 2})
	cl := cluster("m", "", "")
	s := c.desired(cl, healthy)
	assert.Equal(t, metav1.ConditionTrue, readyOf(s), "a cluster never probed takes the first result")
	assert.Equal(t, "u1", s.UID)
	assert.Equal(t, int32(2), s.NodeCount)
	cl.Status = *s

	for i := 1; i <= 2; i++ {
		cl.Status = *c.desired(cl, down)
		assert.Equal(t, metav1.ConditionTrue, readyOf(&cl.Status), "failure %d of 3: still Ready", i)
	}
	cl.Status = *c.desired(cl, down)
	assert.Equal(t, metav1.ConditionFalse, readyOf(&cl.Status), "third failure in a row")
	assert.Equal(t, ReasonUnreachable, meta.FindStatusCondition(cl.Status.Conditions, v1alpha1.ClusterReady).Reason)

	cl.Status = *c.desired(cl, healthy)
	assert.Equal(t, metav1.ConditionFalse, readyOf(&cl.Status), "one success of two")
	cl.Status = *c.desired(cl, down)
	cl.Status = *c.desired(cl, healthy)
	assert.Equal(t, metav1.ConditionFalse, readyOf(&cl.Status), "a failure restarted the count")
	cl.Status = *c.desired(cl, healthy)
	assert.Equal(t, metav1.ConditionTrue, readyOf(&cl.Status))
	assert.Equal(t, "u1", cl.Status.UID, "the identity is never overwritten")
}

func TestIdentityChecks(t *testing.T) {
	c := controller(t, Options{}, cluster("member1", "u1", metav1.ConditionTrue), cluster("member2", "u2", metav1.ConditionTrue))
	o := c.checkIdentity(cluster("member1", "u1", metav1.ConditionTrue), healthy)
	assert.True(t, o.healthy)

	other := healthy
	other.uid = "u2"
	o = c.checkIdentity(cluster("member1", "u1", metav1.ConditionTrue), other)
	assert.False(t, o.healthy)
	assert.Equal(t, ReasonIdentityMismatch, o.reason)

	o = c.checkIdentity(cluster("copy", "", ""), other)
	assert.Equal(t, ReasonDuplicate, o.reason)
	assert.Contains(t, o.message, `cluster "member2" already is this member`)

	// Another member behind a Ready Cluster is shown at once, not after the failure
	// threshold: it is no blip.
	strict := controller(t, Options{FailureThreshold: 3, SuccessThreshold: 1})
	ready := cluster("member1", "u1", metav1.ConditionTrue)
	s := strict.desired(ready, observation{reason: ReasonIdentityMismatch, message: "another member"})
	assert.Equal(t, metav1.ConditionFalse, readyOf(s))
	assert.Equal(t, "u1", s.UID, "the pin stays")
}

func TestStatusWrittenOnlyOnChangeOrRefresh(t *testing.T) {
	c := controller(t, Options{StatusRefresh: time.Minute})
	recent := &metav1.Time{Time: time.Now().Add(-10 * time.Second)}
	old := &v1alpha1.ClusterStatus{KubernetesVersion: "v1", LastProbeTime: recent}
	same := old.DeepCopy()
	assert.True(t, c.unchanged(old, same))
	changed := old.DeepCopy()
	changed.NodeCount = 3
	assert.False(t, c.unchanged(old, changed))
	stale := old.DeepCopy()
	stale.LastProbeTime = &metav1.Time{Time: time.Now().Add(-2 * time.Minute)}
	assert.False(t, c.unchanged(stale, stale.DeepCopy()), "lastProbeTime is refreshed every StatusRefresh")
}

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	for want, err := range map[string]error{
		ReasonUnreachable:  &url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}},
		ReasonUnauthorized: apierrors.NewUnauthorized("no"),
		ReasonForbidden:    apierrors.NewForbidden(gr, "kube-system", errors.New("no")),
		ReasonNotReady:     apierrors.NewInternalError(fmt.Errorf("boom")),
		ReasonCertificateExpired: &url.Error{Op: "Get", URL: "https://x", Err: fmt.Errorf("tls: %w",
			x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired})},
		ReasonCertificateUntrusted: &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}},
		ReasonAgentDisconnected:    &url.Error{Op: "Get", URL: "http://member2", Err: tunnel.ErrAgentNotConnected{Cluster: "member2"}},
	} {
		assert.Equal(t, want, classify(err), "%v", err)
	}
}

type fakeConnector struct {
	expiry time.Time
	ok     bool
}

func (f fakeConnector) RESTConfig(context.Context, *v1alpha1.Cluster) (*rest.Config, error) {
	return nil, errors.New("not used")
}

func (f fakeConnector) ClientCertificateExpiry(*v1alpha1.Cluster) (time.Time, bool) {
	return f.expiry, f.ok
}

func TestCredentialsExpiring(t *testing.T) {
	c := controller(t, Options{})
	recorder := record.NewFakeRecorder(10)
	c.recorder = recorder
	cl := cluster("m", "u1", metav1.ConditionTrue)
	cl.Spec.Connection.CredentialsSecretRef = &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "m-creds"}
	expiring := func(expiry time.Time, ok bool) *metav1.Condition {
		c.connect = fakeConnector{expiry, ok}
		status := cl.Status.DeepCopy()
		c.setCredentialsExpiring(cl, status)
		old := cl.Status.DeepCopy()
		cl.Status = *status
		c.recordTransition(cl, old)
		return meta.FindStatusCondition(status.Conditions, v1alpha1.ClusterCredentialsExpiring)
	}
	far := time.Now().Add(30 * 24 * time.Hour)
	cond := expiring(far, true)
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, "CertificateValid", cond.Reason)
	assert.Empty(t, recorder.Events, "a valid certificate is no news")

	soon := time.Now().Add(3 * 24 * time.Hour)
	cond = expiring(soon, true)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Equal(t, "CertificateExpiresSoon", cond.Reason)
	assert.Contains(t, cond.Message, "Secret kubesphere-system/m-creds expires at "+soon.UTC().Format(time.RFC3339))
	assert.Contains(t, <-recorder.Events, "Warning CertificateExpiresSoon CredentialsExpiring is True")
	again := expiring(soon, true)
	assert.Equal(t, cond.Message, again.Message, "the message does not move with the clock: no write per probe")
	assert.Empty(t, recorder.Events, "no second event for the same state")

	cond = expiring(time.Now().Add(-time.Hour), true)
	assert.Equal(t, "CertificateExpired", cond.Reason)
	assert.Nil(t, expiring(time.Time{}, false), "a token credential has no such condition")
}
