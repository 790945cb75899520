// Package placement resolves which clusters a federated object selects, as KubeFed did:
// cluster names when any is named, else the clusters whose labels match the selector (an
// empty selector matches every cluster), and neither selects none.
package placement

import (
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	clustersv1alpha1 "kubesphere.io/multicluster/apis/clusters/v1alpha1"
	federationv1alpha1 "kubesphere.io/multicluster/apis/federation/v1alpha1"
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

// NamespaceOf is the name of the Namespace a ClusterFederatedObject places, if it places one.
func NamespaceOf(cfo *federationv1alpha1.ClusterFederatedObject) (string, bool) {
	var h struct {
		APIVersion, Kind string
		Metadata         struct{ Name string }
	}
	if json.Unmarshal(cfo.Spec.Template.Raw, &h) != nil || h.APIVersion != "v1" || h.Kind != "Namespace" {
		return "", false
	}
	return h.Metadata.Name, true
}

// NamespaceObject is the ClusterFederatedObject of objects that places Namespace ns, whose
// placement the FederatedObjects of that namespace follow: the oldest, should two ever
// exist (admission refuses a second; the controller and admission take the same one).
func NamespaceObject(objects []*federationv1alpha1.ClusterFederatedObject, ns string) *federationv1alpha1.ClusterFederatedObject {
	var found *federationv1alpha1.ClusterFederatedObject
	for _, c := range objects {
		if name, ok := NamespaceOf(c); !ok || name != ns {
			continue
		}
		if found == nil || c.CreationTimestamp.Before(&found.CreationTimestamp) ||
			(c.CreationTimestamp.Equal(&found.CreationTimestamp) && c.Name < found.Name) {
			found = c
		}
	}
	return found
}
