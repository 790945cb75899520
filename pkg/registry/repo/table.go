package repo

import (
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the repository."},
	{Name: "Source", Type: "string", Description: "Where its charts come from: Index, OCI or Upload."},
	{Name: "Synced", Type: "string", Description: "Status of the Synced condition, or Unknown before the first sync."},
	{Name: "Charts", Type: "string", Description: "Charts found by the last sync."},
	{Name: "Versions", Type: "string", Description: "Chart versions found by the last sync."},
	{Name: "Age", Type: "string", Description: "Time since the repository was added."},
	{Name: "URL", Type: "string", Priority: 1, Description: "The repository's URL."},
	{Name: "Reason", Type: "string", Priority: 1, Description: "Reason of the Synced condition."},
}

// tableConvertor prints repos for `kubectl get repos`.
var tableConvertor = printers.Convertor[*appstore.Repo]{Columns: columns, Cells: cells}

func cells(r *appstore.Repo) []any {
	synced, reason, charts, versions := "Unknown", "", "", ""
	if c := meta.FindStatusCondition(r.Status.Conditions, appstore.RepoSynced); c != nil {
		synced, reason = string(c.Status), c.Reason
	}
	if r.Status.LastSyncTime != nil {
		charts, versions = strconv.Itoa(int(r.Status.ChartCount)), strconv.Itoa(int(r.Status.VersionCount))
	}
	return []any{r.Name, string(r.Spec.Source), synced, charts, versions, printers.Age(r.CreationTimestamp), r.Spec.URL, reason}
}
