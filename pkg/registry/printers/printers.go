// Package printers turns stored objects into the tables `kubectl get` prints: the part
// every resource's TableConvertor shares (list metadata, one row per item, age).
package printers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Convertor is a kind's rest.TableConvertor: objects of type T, or lists of them, printed
// with Columns; Cells gives one object's cells in column order.
type Convertor[T runtime.Object] struct {
	Columns []metav1.TableColumnDefinition
	Cells   func(T) []any
}

// ConvertToTable prints obj; any other type than T (or a list of T) is an error.
func (c Convertor[T]) ConvertToTable(_ context.Context, obj, _ runtime.Object) (*metav1.Table, error) {
	return Table(obj, c.Columns, func(o runtime.Object) ([]any, error) {
		t, ok := o.(T)
		if !ok {
			return nil, fmt.Errorf("cannot print %T as a table", o)
		}
		return c.Cells(t), nil
	})
}

// Table prints obj, one object or a list of them, with columns: cells gives each object's
// cells in column order, or an error for an object it cannot print.
func Table(obj runtime.Object, columns []metav1.TableColumnDefinition, cells func(runtime.Object) ([]any, error)) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: columns}
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if m, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
			table.Continue = m.GetContinue()
			table.RemainingItemCount = m.GetRemainingItemCount()
		}
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		c, err := cells(item)
		if err != nil {
			return nil, err
		}
		table.Rows = append(table.Rows, metav1.TableRow{Object: runtime.RawExtension{Object: item}, Cells: c})
	}
	return table, nil
}

// Age is how long ago t was, as kubectl prints it; "<unknown>" for a zero time.
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}
