package cluster

import (
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the cluster."},
	{Name: "Connection", Type: "string", Description: "How the host reaches the cluster: Direct or Agent."},
	{Name: "Ready", Type: "string", Description: "Status of the Ready condition, or Unknown before the first probe."},
	{Name: "Version", Type: "string", Description: "Kubernetes version of the cluster's API server."},
	{Name: "Nodes", Type: "string", Description: "Number of nodes in the cluster, empty before the first probe."},
	{Name: "Age", Type: "string", Description: "Time since the cluster was registered."},
	{Name: "Endpoint", Type: "string", Priority: 1, Description: "URL of the cluster's API server."},
	{Name: "Reason", Type: "string", Priority: 1, Description: "Reason of the Ready condition."},
}

// tableConvertor prints clusters for `kubectl get clusters`.
var tableConvertor = printers.Convertor[*clusters.Cluster]{Columns: columns, Cells: cells}

func cells(c *clusters.Cluster) []any {
	ready, reason := "Unknown", ""
	if cond := meta.FindStatusCondition(c.Status.Conditions, clusters.ClusterReady); cond != nil {
		ready, reason = string(cond.Status), cond.Reason
	}
	nodes := ""
	if c.Status.LastProbeTime != nil {
		nodes = strconv.Itoa(int(c.Status.NodeCount))
	}
	return []any{c.Name, string(c.Spec.Connection.Type), ready, c.Status.KubernetesVersion,
		nodes, printers.Age(c.CreationTimestamp), c.Spec.Connection.KubernetesAPIEndpoint, reason}
}
