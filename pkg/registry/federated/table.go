package federated

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/apis/federation/validation"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the federated object."},
	{Name: "Kind", Type: "string", Description: "Kind of the template."},
	{Name: "Clusters", Type: "string", Description: "Clusters whose object is ready, of those it is placed on."},
	{Name: "Ready", Type: "string", Description: "Status of the Ready condition, or Unknown before the controller reports."},
	{Name: "Age", Type: "string", Description: "Time since the federated object was created."},
	{Name: "Object", Type: "string", Priority: 1, Description: "Name of the template on each cluster."},
	{Name: "Requester", Type: "string", Priority: 1, Description: "The user federation acts as."},
	{Name: "Reason", Type: "string", Priority: 1, Description: "Reason of the Ready condition."},
}

func cells[T federation.Object](o T) []any {
	spec, status := o.Parts()
	kind, name := "", ""
	if gvk, n, _, err := validation.Template(spec.Template.Raw); err == nil {
		kind, name = gvk.Kind, n
	}
	ready, reason := "Unknown", ""
	if c := meta.FindStatusCondition(status.Conditions, federation.ConditionReady); c != nil {
		ready, reason = string(c.Status), c.Reason
	}
	n := 0
	for _, c := range status.Clusters {
		if c.Ready {
			n++
		}
	}
	return []any{o.GetName(), kind, fmt.Sprintf("%d/%d", n, len(status.Clusters)), ready, printers.Age(objectMeta(o).CreationTimestamp),
		name, status.Requester.Username, reason}
}

var (
	namespacedTable = printers.Convertor[*federation.FederatedObject]{Columns: columns, Cells: cells[*federation.FederatedObject]}
	clusterTable    = printers.Convertor[*federation.ClusterFederatedObject]{Columns: columns, Cells: cells[*federation.ClusterFederatedObject]}
)
