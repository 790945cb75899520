package appview

import (
	"reflect"
	"strings"
	"testing"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func columnNames(t *metav1.Table) []string {
	var out []string
	for _, c := range t.ColumnDefinitions {
		out = append(out, strings.ToUpper(c.Name))
	}
	return out
}

func TestTables(t *testing.T) {
	_, apps, vers := fixture(t)
	get := func(s *REST, name string) runtime.Object {
		obj, err := s.Get(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	for _, c := range []struct {
		name    string
		store   *REST
		obj     runtime.Object
		columns []string
		cells   []any // the first row, but for the age columns
	}{
		{"application", apps, get(apps, "main.nginx"), []string{"NAME", "REPO", "LATEST", "DESCRIPTION", "AGE"},
			[]any{"main.nginx", "main", "2.0.0", "NGINX Open Source is a web server that can be also used a..."}},
		{"version", vers, get(vers, "main.nginx.2.0.0"), []string{"NAME", "APP", "VERSION", "APP VERSION", "STATE", "CREATED"},
			[]any{"main.nginx.2.0.0", "main.nginx", "2.0.0", "1.27.0", "Active"}},
		{"version without a time", vers, get(vers, "main.myapp.0.1.0"), []string{"NAME", "APP", "VERSION", "APP VERSION", "STATE", "CREATED"},
			[]any{"main.myapp.0.1.0", "main.myapp", "0.1.0", "", "Active", "<unknown>"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			table, err := c.store.ConvertToTable(ctx, c.obj, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := columnNames(table); !reflect.DeepEqual(got, c.columns) {
				t.Fatalf("columns %q, want %q", got, c.columns)
			}
			row := table.Rows[0]
			if len(row.Cells) != len(c.columns) || !reflect.DeepEqual(row.Cells[:len(c.cells)], c.cells) {
				t.Fatalf("cells %q, want %q", row.Cells, c.cells)
			}
			if last := row.Cells[len(row.Cells)-1].(string); last == "" || last == "<unknown>" && len(c.cells) < len(c.columns) {
				t.Fatalf("age %q", last)
			}
			if table.ResourceVersion != "1002" || row.Object.Object != c.obj {
				t.Fatalf("table %+v", table)
			}
		})
	}
	list, err := vers.List(ctx, &metainternalversion.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	table, err := vers.ConvertToTable(ctx, list, nil)
	if err != nil || len(table.Rows) != 3 || table.Continue == "" || table.ResourceVersion != "1002" || *table.RemainingItemCount != 4 {
		t.Fatalf("list table %+v, %v", table, err)
	}
	if _, err := apps.ConvertToTable(ctx, get(vers, "main.nginx.2.0.0"), nil); err == nil {
		t.Fatal("applications printed a version")
	}
}

func TestShorten(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"short", "short"},
		{"two\nlines  and\tspaces", "two lines and spaces"},
		{strings.Repeat("é", 60), strings.Repeat("é", 60)},
		{strings.Repeat("é", 61), strings.Repeat("é", 57) + "..."},
	} {
		if got := shorten(c.in, 60); got != c.want {
			t.Errorf("shorten(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
