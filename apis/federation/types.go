package federation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeletionPolicy says what happens to a member object when its cluster leaves the placement
// or the federated object is deleted.
type DeletionPolicy string

const (
	DeletionPolicyDelete DeletionPolicy = "Delete"
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ConflictPolicy says what happens when the object already exists on a member and is not
// ours.
type ConflictPolicy string

const (
	ConflictPolicyRefuse ConflictPolicy = "Refuse"
	ConflictPolicyAdopt  ConflictPolicy = "Adopt"
)

// DriftPolicy says what happens when a field we set is changed on a member.
type DriftPolicy string

const (
	DriftPolicyReport DriftPolicy = "Report"
	DriftPolicyRevert DriftPolicy = "Revert"
)

// PatchOp is a JSON patch operation of an override.
type PatchOp string

const (
	PatchOpAdd     PatchOp = "add"
	PatchOpRemove  PatchOp = "remove"
	PatchOpReplace PatchOp = "replace"
)

// Condition types of a federated object.
const (
	ConditionApplied = "Applied"
	ConditionReady   = "Ready"
	ConditionDrifted = "Drifted"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedObject places a namespaced object on member clusters.
type FederatedObject struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   FederatedSpec
	Status FederatedStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// FederatedObjectList is a list of FederatedObjects.
type FederatedObjectList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []FederatedObject
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterFederatedObject places a cluster-scoped object (a Namespace, a ClusterRole, a CRD)
// on member clusters.
type ClusterFederatedObject struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   FederatedSpec
	Status FederatedStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterFederatedObjectList is a list of ClusterFederatedObjects.
type ClusterFederatedObjectList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ClusterFederatedObject
}

// FederatedSpec is what to place, where, and how.
type FederatedSpec struct {
	Template       runtime.RawExtension
	Placement      *Placement
	Overrides      []ClusterOverride
	DeletionPolicy DeletionPolicy
	ConflictPolicy ConflictPolicy
	Drift          DriftPolicy
}

// Placement selects clusters: names win over the selector; an empty selector selects all.
type Placement struct {
	Clusters        []string
	ClusterSelector *metav1.LabelSelector
}

// ClusterOverride is the JSON patch applied to the template for one cluster.
type ClusterOverride struct {
	Cluster string
	Patches []PatchOperation
}

// PatchOperation is one JSON patch operation (RFC 6902: add, remove, replace).
type PatchOperation struct {
	Op    PatchOp
	Path  string
	Value *runtime.RawExtension
}

// Requester is the user a federated object acts as on members.
type Requester struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// FederatedStatus is where the object stands on each cluster.
type FederatedStatus struct {
	ObservedGeneration int64
	Requester          Requester
	Conditions         []metav1.Condition
	Clusters           []ClusterStatus
	Replicas           int32
	ReadyReplicas      int32
	AvailableReplicas  int32
	UpdatedReplicas    int32
}

// ClusterStatus is the object on one cluster.
type ClusterStatus struct {
	Cluster            string
	Applied            bool
	AppliedGeneration  int64
	AppliedHash        string
	ResourceVersion    string
	Ready              bool
	Replicas           int32
	ReadyReplicas      int32
	AvailableReplicas  int32
	UpdatedReplicas    int32
	Drifted            []string
	Reason             string
	Message            string
	LastTransitionTime metav1.Time
}
