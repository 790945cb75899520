package clusterhealth

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterlisters "kubesphere.io/multicluster/generated/listers/clusters/v1alpha1"
)

// metrics of the controller. Cluster counts are read from the informer's cache at scrape
// time, so they are never stale and cost nothing between scrapes.
type metrics struct {
	probeDuration *prometheus.HistogramVec
	writes        *prometheus.CounterVec
	clusters      *prometheus.Desc
	lister        clusterlisters.ClusterLister
}

func newMetrics(lister clusterlisters.ClusterLister) *metrics {
	return &metrics{
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubesphere_cluster_probe_duration_seconds",
			Help:    "Time one probe of a member cluster took, by cluster and result (ok or the Ready reason).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"cluster", "result"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubesphere_cluster_status_writes_total",
			Help: "Status writes of Cluster objects, by result (ok or error): reconcile errors are the error ones.",
		}, []string{"result"}),
		clusters: prometheus.NewDesc("kubesphere_clusters",
			"Clusters by the status of a condition (Ready, AgentAvailable, CredentialsExpiring).", []string{"condition", "status"}, nil),
		lister: lister,
	}
}

// Register adds the controller's metrics to r.
func (c *Controller) Register(r prometheus.Registerer) error {
	for _, col := range []prometheus.Collector{c.metrics.probeDuration, c.metrics.writes, c.metrics} {
		if err := r.Register(col); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) observeProbe(cluster, reason string, took time.Duration) {
	result := "ok"
	if reason != ReasonReady {
		result = reason
	}
	m.probeDuration.WithLabelValues(cluster, result).Observe(took.Seconds())
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.clusters }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	all, err := m.lister.List(everything)
	if err != nil {
		return
	}
	types := []string{v1alpha1.ClusterReady, v1alpha1.ClusterAgentAvailable, v1alpha1.ClusterCredentialsExpiring}
	counts := map[[2]string]int{}
	for _, condType := range types {
		for _, s := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
			counts[[2]string{condType, string(s)}] = 0
		}
	}
	for _, cl := range all {
		for _, condType := range types {
			status := metav1.ConditionUnknown
			if cond := meta.FindStatusCondition(cl.Status.Conditions, condType); cond != nil {
				status = cond.Status
			} else if condType != v1alpha1.ClusterReady {
				continue // no certificate credential: not counted
			}
			counts[[2]string{condType, string(status)}]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.clusters, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
