package cluster

import (
	"context"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"kubesphere.io/multicluster/apis/clusters"
)

// tableConvertor prints clusters for `kubectl get clusters`.
type tableConvertor struct{}

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

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: columns}
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	var err error
	switch t := obj.(type) {
	case *clusters.Cluster:
		table.Rows = []metav1.TableRow{row(t)}
	case *clusters.ClusterList:
		table.Rows = make([]metav1.TableRow, 0, len(t.Items))
		for i := range t.Items {
			table.Rows = append(table.Rows, row(&t.Items[i]))
		}
	default:
		err = fmt.Errorf("cannot print %T as a table", obj)
	}
	return table, err
}

func row(c *clusters.Cluster) metav1.TableRow {
	ready, reason := "Unknown", ""
	if cond := meta.FindStatusCondition(c.Status.Conditions, clusters.ClusterReady); cond != nil {
		ready, reason = string(cond.Status), cond.Reason
	}
	nodes := ""
	if c.Status.LastProbeTime != nil {
		nodes = strconv.Itoa(int(c.Status.NodeCount))
	}
	age := "<unknown>"
	if ts := c.CreationTimestamp; !ts.IsZero() {
		age = duration.HumanDuration(metav1.Now().Sub(ts.Time))
	}
	return metav1.TableRow{
		Object: runtime.RawExtension{Object: c},
		Cells: []interface{}{
			c.Name, string(c.Spec.Connection.Type), ready, c.Status.KubernetesVersion,
			nodes, age, c.Spec.Connection.KubernetesAPIEndpoint, reason,
		},
	}
}
