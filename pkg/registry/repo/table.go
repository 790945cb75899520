package repo

import (
	"context"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

// tableConvertor prints repos for `kubectl get repos`.
type tableConvertor struct{}

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

func (tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	return printers.Table(obj, columns, func(o runtime.Object) ([]any, error) {
		r, ok := o.(*appstore.Repo)
		if !ok {
			return nil, fmt.Errorf("cannot print %T as a table", o)
		}
		synced, reason, charts, versions := "Unknown", "", "", ""
		if c := meta.FindStatusCondition(r.Status.Conditions, appstore.RepoSynced); c != nil {
			synced, reason = string(c.Status), c.Reason
		}
		if r.Status.LastSyncTime != nil {
			charts, versions = strconv.Itoa(int(r.Status.ChartCount)), strconv.Itoa(int(r.Status.VersionCount))
		}
		return []any{r.Name, string(r.Spec.Source), synced, charts, versions, printers.Age(r.CreationTimestamp), r.Spec.URL, reason}, nil
	})
}
