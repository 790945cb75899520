package placement

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

type fixed []*clustersv1alpha1.Cluster

func (f fixed) List(sel labels.Selector) ([]*clustersv1alpha1.Cluster, error) {
	var out []*clustersv1alpha1.Cluster
	for _, c := range f {
		if sel.Matches(labels.Set(c.Labels)) {
			out = append(out, c)
		}
	}
	return out, nil
}

func TestSelect(t *testing.T) {
	cs := fixed{
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"env": "prod"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"env": "dev"}}},
	}
	prod := &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	for _, c := range []struct {
		name     string
		names    []string
		selector *metav1.LabelSelector
		want     []string
	}{
		{"names win", []string{"x", "a", "x"}, prod, []string{"a", "x"}},
		{"selector", nil, prod, []string{"b"}},
		{"empty selector selects all", nil, &metav1.LabelSelector{}, []string{"a", "b"}},
		{"neither selects none", nil, nil, nil},
	} {
		got, err := Select(c.names, c.selector, cs)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}
