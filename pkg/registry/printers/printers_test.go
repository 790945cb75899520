package printers

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubesphere.io/multicluster/apis/appstore"
)

func TestTable(t *testing.T) {
	cols := []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}}
	name := func(o runtime.Object) ([]any, error) {
		r, ok := o.(*appstore.Repo)
		if !ok {
			return nil, errors.New("not a Repo")
		}
		return []any{r.Name}, nil
	}
	list := &appstore.RepoList{ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next"},
		Items: []appstore.Repo{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}}}
	table, err := Table(list, cols, name)
	if err != nil || len(table.Rows) != 2 || table.Rows[1].Cells[0] != "b" || table.ResourceVersion != "42" || table.Continue != "next" {
		t.Fatalf("list: %+v, %v", table, err)
	}
	one, err := Table(&appstore.Repo{ObjectMeta: metav1.ObjectMeta{Name: "c", ResourceVersion: "7"}}, cols, name)
	if err != nil || len(one.Rows) != 1 || one.Rows[0].Cells[0] != "c" || one.ResourceVersion != "7" {
		t.Fatalf("one object: %+v, %v", one, err)
	}
	if _, err := Table(&metav1.Status{}, cols, name); err == nil {
		t.Fatal("an object cells cannot print gave no error")
	}
	if Age(metav1.Time{}) != "<unknown>" {
		t.Fatal("zero time")
	}
}
