package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeletionPolicy says what happens to a member object when its cluster leaves the placement
// or the federated object is deleted.
// +enum
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the member object.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves it, without the owner label.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ConflictPolicy says what happens when the object already exists on a member and was not
// made by this federated object.
// +enum
type ConflictPolicy string

const (
	// ConflictPolicyRefuse leaves it and reports Conflict.
	ConflictPolicyRefuse ConflictPolicy = "Refuse"
	// ConflictPolicyAdopt makes it ours: the template's fields are applied to it.
	ConflictPolicyAdopt ConflictPolicy = "Adopt"
)

// DriftPolicy says what happens when a field the template sets is changed on a member.
// +enum
type DriftPolicy string

const (
	// DriftPolicyReport reports the changed fields (status.clusters[].drifted).
	DriftPolicyReport DriftPolicy = "Report"
	// DriftPolicyRevert applies the template's values again.
	DriftPolicyRevert DriftPolicy = "Revert"
)

// PatchOp is a JSON patch operation of an override.
// +enum
type PatchOp string

const (
	PatchOpAdd     PatchOp = "add"
	PatchOpRemove  PatchOp = "remove"
	PatchOpReplace PatchOp = "replace"
)

// Condition types of a federated object.
const (
	// ConditionApplied: every placed cluster has the current generation applied.
	ConditionApplied = "Applied"
	// ConditionReady: every placed cluster's object is ready.
	ConditionReady = "Ready"
	// ConditionDrifted: some cluster's object has fields changed there.
	ConditionDrifted = "Drifted"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedObject places a namespaced object, its template, on member clusters, in the
// namespace of the same name there. The template is stored on the host and never created
// there.
type FederatedObject struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what to place, where, and how.
	Spec FederatedSpec `json:"spec"`
	// Status is where the object stands on each cluster; the server and the federation
	// controller write it.
	// +optional
	Status FederatedStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedObjectList is a list of FederatedObjects.
type FederatedObjectList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of FederatedObjects.
	Items []FederatedObject `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterFederatedObject places a cluster-scoped object (a Namespace, a ClusterRole, a
// CustomResourceDefinition) on member clusters. A Namespace placed so makes a multi-cluster
// project: the FederatedObjects in the host namespace of that name follow its placement.
type ClusterFederatedObject struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what to place, where, and how.
	Spec FederatedSpec `json:"spec"`
	// Status is where the object stands on each cluster.
	// +optional
	Status FederatedStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterFederatedObjectList is a list of ClusterFederatedObjects.
type ClusterFederatedObjectList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of ClusterFederatedObjects.
	Items []ClusterFederatedObject `json:"items"`
}

// FederatedSpec is what to place, where, and how.
type FederatedSpec struct {
	// Template is the object as it would be applied to a member: apiVersion, kind,
	// metadata (name, labels, annotations) and its body (spec, data, ...).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:EmbeddedResource
	Template runtime.RawExtension `json:"template"`
	// Placement selects the clusters. Omitted on a FederatedObject: the placement of its
	// namespace's ClusterFederatedObject.
	// +optional
	Placement *Placement `json:"placement,omitempty"`
	// Overrides change the template for some clusters.
	// +optional
	// +listType=map
	// +listMapKey=cluster
	Overrides []ClusterOverride `json:"overrides,omitempty"`
	// DeletionPolicy: Delete (default) or Orphan.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// ConflictPolicy for an object that exists on a member and is not ours: Refuse
	// (default) or Adopt.
	// +optional
	ConflictPolicy ConflictPolicy `json:"conflictPolicy,omitempty"`
	// Drift: Report (default) or Revert.
	// +optional
	Drift DriftPolicy `json:"drift,omitempty"`
}

// Placement selects clusters, as KubeFed did: clusters by name when any is named, else the
// clusters whose labels match clusterSelector ({} selects all); neither selects none.
type Placement struct {
	// Clusters are cluster names.
	// +optional
	// +listType=set
	Clusters []string `json:"clusters,omitempty"`
	// ClusterSelector selects clusters by their labels.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
}

// ClusterOverride is the JSON patch applied to the template for one cluster.
type ClusterOverride struct {
	// Cluster is the cluster's name.
	Cluster string `json:"cluster"`
	// Patches are applied in order; one that does not apply is reported on that cluster's
	// row (OverrideFailed) and nothing is applied there.
	// +listType=atomic
	Patches []PatchOperation `json:"patches"`
}

// PatchOperation is one JSON patch operation (RFC 6902).
type PatchOperation struct {
	// Op is add, remove or replace.
	Op PatchOp `json:"op"`
	// Path is a JSON pointer into the template, for example /spec/replicas.
	Path string `json:"path"`
	// Value is the value of add and replace.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Value *runtime.RawExtension `json:"value,omitempty"`
}

// Requester is the user a federated object acts as on members: who last changed its spec.
type Requester struct {
	// Username of the user.
	// +optional
	Username string `json:"username,omitempty"`
	// UID of the user.
	// +optional
	UID string `json:"uid,omitempty"`
	// Groups of the user.
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty"`
	// Extra are the user's extra attributes, by key.
	// +optional
	Extra map[string][]string `json:"extra,omitempty"`
}

// FederatedStatus is where the object stands on each cluster.
type FederatedStatus struct {
	// ObservedGeneration is the generation every placed cluster has applied.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Requester is who last changed spec; the server sets it.
	// +optional
	Requester Requester `json:"requester,omitempty"`
	// Conditions summarise the clusters: Applied, Ready, Drifted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Clusters has one row per placed cluster, and per cluster being cleaned up.
	// +optional
	// +listType=map
	// +listMapKey=cluster
	Clusters []ClusterStatus `json:"clusters,omitempty"`
	// Replicas, ReadyReplicas, AvailableReplicas and UpdatedReplicas are summed over the
	// clusters, for workloads that have them.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
}

// ClusterStatus is the object on one cluster.
type ClusterStatus struct {
	// Cluster is the cluster's name.
	Cluster string `json:"cluster"`
	// Applied is true once the current generation's object was applied there.
	// +optional
	Applied bool `json:"applied,omitempty"`
	// AppliedGeneration is the generation last applied there.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// AppliedHash identifies the object last applied there (template with overrides).
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
	// ResourceVersion is the member object's resourceVersion as last seen.
	// +optional
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Ready is the object's readiness there (kstatus rules: rollouts finished, conditions
	// true).
	// +optional
	Ready bool `json:"ready,omitempty"`
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// Drifted are the paths of fields the template sets whose values differ there.
	// +optional
	// +listType=atomic
	Drifted []string `json:"drifted,omitempty"`
	// Reason is why the row is not applied or not ready, for a user to act on:
	// ClusterNotReady, ClusterNotFound, Forbidden, Conflict, OverrideFailed, KindNotServed,
	// Invalid, Unreachable, NamespaceNotPlaced.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says more.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the row last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}
