package apprelease

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the release."},
	{Name: "Application", Type: "string", Description: "The application installed."},
	{Name: "Version", Type: "string", Description: "The chart version asked for."},
	{Name: "Deployed", Type: "string", Description: "Clusters where the asked generation is deployed, of those the release is on."},
	{Name: "Ready", Type: "string", Description: "Status of the Ready condition, or Unknown before the controller reports."},
	{Name: "Age", Type: "string", Description: "Time since the release was created."},
	{Name: "Namespace", Type: "string", Priority: 1, Description: "The namespace it is installed in on each cluster."},
	{Name: "Requester", Type: "string", Priority: 1, Description: "The user the App Store acts as."},
	{Name: "Reason", Type: "string", Priority: 1, Description: "Reason of the Ready condition."},
}

// tableConvertor prints releases for `kubectl get applicationreleases`.
var tableConvertor = printers.Convertor[*appstore.ApplicationRelease]{Columns: columns, Cells: cells}

func cells(r *appstore.ApplicationRelease) []any {
	ready, reason := "Unknown", ""
	if c := meta.FindStatusCondition(r.Status.Conditions, appstore.ReleaseReady); c != nil {
		ready, reason = string(c.Status), c.Reason
	}
	deployed := 0
	for _, c := range r.Status.Clusters {
		if c.Phase == appstore.ReleasePhaseDeployed && c.AppliedGeneration == r.Generation {
			deployed++
		}
	}
	return []any{r.Name, r.Spec.Application, r.Spec.Version, fmt.Sprintf("%d/%d", deployed, len(r.Status.Clusters)),
		ready, printers.Age(r.CreationTimestamp), r.Spec.TargetNamespace, r.Status.Requester.Username, reason}
}
