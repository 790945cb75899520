package appview

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubesphere.io/multicluster/apis/appstore"
	"kubesphere.io/multicluster/pkg/registry/printers"
)

// descriptionWidth is how much of a description `kubectl get applications` shows.
const descriptionWidth = 60

var applicationColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the application: <repo>.<chart>."},
	{Name: "Repo", Type: "string", Description: "The Repo the chart is in."},
	{Name: "Latest", Type: "string", Description: "The chart's newest version."},
	{Name: "Description", Type: "string", Description: "The chart's description (shortened)."},
	{Name: "Age", Type: "string", Description: "Time since the chart's oldest version was created."},
}

var versionColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the version: <repo>.<chart>.<version>."},
	{Name: "App", Type: "string", Description: "The Application the version belongs to."},
	{Name: "Version", Type: "string", Description: "The chart version."},
	{Name: "App Version", Type: "string", Description: "The version of the software the chart installs."},
	{Name: "State", Type: "string", Description: "Review state: Active for every version of an Index or OCI repo; uploaded versions go Draft, Submitted, Passed or Rejected, Active, Suspended. Only Active ones install."},
	{Name: "Created", Type: "string", Description: "Time since the version was created."},
}

// applicationTable prints applications for `kubectl get applications`.
var applicationTable = printers.Convertor[*appstore.Application]{Columns: applicationColumns,
	Cells: func(a *appstore.Application) []any {
		return []any{a.Name, a.Spec.Repo, a.Status.LatestVersion, shorten(a.Spec.Description, descriptionWidth),
			printers.Age(a.CreationTimestamp)}
	}}

// versionTable prints versions for `kubectl get applicationversions`.
var versionTable = printers.Convertor[*appstore.ApplicationVersion]{Columns: versionColumns,
	Cells: func(v *appstore.ApplicationVersion) []any {
		created := metav1.Time{}
		if v.Spec.Created != nil {
			created = *v.Spec.Created
		}
		return []any{v.Name, v.Spec.Application, v.Spec.Version, v.Spec.AppVersion, string(v.Status.State), printers.Age(created)}
	}}

// shorten makes s one line of at most width characters, ending in "..." when cut.
func shorten(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-3]) + "..."
}
