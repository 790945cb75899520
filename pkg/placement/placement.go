// Package placement resolves which clusters a federated object selects, as KubeFed did:
// cluster names when any is named, else the clusters whose labels match the selector (an
// empty selector matches every cluster), and neither selects none.
package placement

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
)

// Clusters lists the registered Clusters (the informer's lister).
type Clusters interface {
	List(selector labels.Selector) ([]*clustersv1alpha1.Cluster, error)
}

// Select returns the cluster names selected, sorted. Names are returned whether or not a
// Cluster of that name exists: a missing one is the caller's to report.
func Select(names []string, selector *metav1.LabelSelector, clusters Clusters) ([]string, error) {
	if len(names) > 0 {
		out := slices.Clone(names)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	if selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("clusterSelector: %w", err)
	}
	list, err := clusters.List(sel)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out, nil
}
