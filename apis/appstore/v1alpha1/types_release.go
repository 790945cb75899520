package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RemovalPolicy says what happens on a cluster that leaves a release's placement.
// +enum
type RemovalPolicy string

const (
	// RemovalPolicyUninstall: the Helm release is uninstalled from that cluster (the default).
	RemovalPolicyUninstall RemovalPolicy = "Uninstall"
	// RemovalPolicyKeep: the Helm release stays and the cluster is shown as Kept.
	RemovalPolicyKeep RemovalPolicy = "Keep"
)

// ReleasePhase is where a release stands on one cluster.
// +enum
type ReleasePhase string

const (
	// ReleasePhasePending: not yet attempted, or waiting for a retry.
	ReleasePhasePending ReleasePhase = "Pending"
	// ReleasePhaseInstalling: the first install is running.
	ReleasePhaseInstalling ReleasePhase = "Installing"
	// ReleasePhaseUpgrading: an upgrade (version or values change) is running.
	ReleasePhaseUpgrading ReleasePhase = "Upgrading"
	// ReleasePhaseRollingBack: a rollback is running.
	ReleasePhaseRollingBack ReleasePhase = "RollingBack"
	// ReleasePhaseDeployed: the current generation is deployed on the member.
	ReleasePhaseDeployed ReleasePhase = "Deployed"
	// ReleasePhaseFailed: the last operation failed; reason and message say why.
	ReleasePhaseFailed ReleasePhase = "Failed"
	// ReleasePhaseUninstalling: the uninstall is running.
	ReleasePhaseUninstalling ReleasePhase = "Uninstalling"
	// ReleasePhaseUninstalled: removed from a cluster that left the placement.
	ReleasePhaseUninstalled ReleasePhase = "Uninstalled"
	// ReleasePhaseKept: the cluster left the placement and removalPolicy is Keep.
	ReleasePhaseKept ReleasePhase = "Kept"
	// ReleasePhaseClusterDeleted: the Cluster object is gone; there is nothing to call.
	ReleasePhaseClusterDeleted ReleasePhase = "ClusterDeleted"
	// ReleasePhaseUnreachable: the member could not be reached; retried with backoff.
	ReleasePhaseUnreachable ReleasePhase = "Unreachable"
)

// RequestAction is what a user asked of a release.
// +enum
type RequestAction string

const (
	// RequestActionCreate: the release was created.
	RequestActionCreate RequestAction = "Create"
	// RequestActionUpdate: its spec changed.
	RequestActionUpdate RequestAction = "Update"
	// RequestActionRollback: spec.rollback was set.
	RequestActionRollback RequestAction = "Rollback"
	// RequestActionDelete: it was deleted.
	RequestActionDelete RequestAction = "Delete"
)

// RevisionAction is the Helm operation that made a revision.
// +enum
type RevisionAction string

const (
	// RevisionActionInstall: helm install.
	RevisionActionInstall RevisionAction = "Install"
	// RevisionActionUpgrade: helm upgrade.
	RevisionActionUpgrade RevisionAction = "Upgrade"
	// RevisionActionRollback: helm rollback.
	RevisionActionRollback RevisionAction = "Rollback"
	// RevisionActionUninstall: helm uninstall.
	RevisionActionUninstall RevisionAction = "Uninstall"
)

// Condition types of an ApplicationRelease.
const (
	// ReleaseReady is True when every cluster of the placement is Deployed and ready.
	ReleaseReady = "Ready"
	// ReleaseProgressing is True while an operation runs on some cluster.
	ReleaseProgressing = "Progressing"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRelease installs one application version as a Helm release on every cluster of
// its placement, as the user who asked (recorded by the server in status.requester).
// Creating or changing it needs that user's clusters/proxy right on each cluster.
type ApplicationRelease struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what to install, where, and how.
	// +optional
	Spec ApplicationReleaseSpec `json:"spec,omitempty"`
	// Status is the release on each cluster and who asked for it. Requester and requests
	// are set by the server only.
	// +optional
	Status ApplicationReleaseStatus `json:"status,omitempty"`
}

// ApplicationReleaseSpec is what to install, where, and how.
type ApplicationReleaseSpec struct {
	// Application is the name of the Application, "<repo>.<chart>".
	Application string `json:"application"`
	// Version is the exact chart version, as the ApplicationVersion's spec.version spells it.
	Version string `json:"version"`
	// Values are the chart values, a JSON object of at most 256 KiB (Helm stores them in the
	// release record on every cluster).
	// +optional
	Values *runtime.RawExtension `json:"values,omitempty"`
	// TargetNamespace is the namespace on each member the release is installed into;
	// immutable, since Helm cannot move a release.
	TargetNamespace string `json:"targetNamespace"`
	// CreateNamespace creates targetNamespace on the member when it is missing.
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// ReleaseName is the Helm release name on the members. Defaults to metadata.name (set by
	// the server on create); immutable, since Helm cannot rename a release.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
	// Placement selects the clusters to install on.
	Placement Placement `json:"placement"`
	// RemovalPolicy is Uninstall (the default) or Keep: what happens on a cluster that leaves
	// the placement.
	// +optional
	RemovalPolicy RemovalPolicy `json:"removalPolicy,omitempty"`
	// Rollback asks to return to an earlier generation's revisions. The server clears it when
	// version or values change in the same update.
	// +optional
	Rollback *ReleaseRollback `json:"rollback,omitempty"`
	// Timeout bounds one operation on one cluster. Defaults to 5m.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Placement selects the clusters of a release: exactly one of clusters and clusterSelector.
type Placement struct {
	// Clusters are the names of Clusters.
	// +optional
	// +listType=set
	Clusters []string `json:"clusters,omitempty"`
	// ClusterSelector selects Clusters by label; clusters joining or leaving it follow.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`
}

// ReleaseRollback asks to roll the release back, per cluster, to a Helm revision.
type ReleaseRollback struct {
	// ToGeneration is an earlier metadata.generation: each cluster rolls back to the revision
	// status recorded for that generation.
	// +optional
	ToGeneration int64 `json:"toGeneration,omitempty"`
	// Revisions names a Helm revision per cluster, overriding toGeneration for that cluster.
	// +optional
	Revisions map[string]int32 `json:"revisions,omitempty"`
}

// ApplicationReleaseStatus is a release's state on each cluster and who asked for it.
type ApplicationReleaseStatus struct {
	// ObservedGeneration is the metadata.generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Requester is the user the controller acts as on the members: the last one who created
	// or changed the spec. Set by the server from the request; clients cannot set it.
	// +optional
	Requester Requester `json:"requester,omitempty"`
	// Requests are the last 50 requests made of the release, oldest first. Server-set.
	// +optional
	// +listType=atomic
	Requests []RequestRecord `json:"requests,omitempty"`
	// Conditions: Ready and Progressing.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// Clusters is the release on each cluster of the placement, and on those that left it.
	// +optional
	// +listType=map
	// +listMapKey=cluster
	Clusters []ClusterRelease `json:"clusters,omitempty"`
}

// Requester is a user as the host authenticated them, enough to impersonate them.
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

// RequestRecord is one request a user made of a release.
type RequestRecord struct {
	// Generation is the metadata.generation the request produced.
	Generation int64 `json:"generation"`
	// Action is what was asked.
	Action RequestAction `json:"action"`
	// User is the name of the user who asked.
	User string `json:"user"`
	// Time is when.
	Time metav1.Time `json:"time"`
	// Version is spec.version after the request.
	// +optional
	Version string `json:"version,omitempty"`
}

// ClusterRelease is a release on one cluster.
type ClusterRelease struct {
	// Cluster is the Cluster's name.
	Cluster string `json:"cluster"`
	// Phase is where the release stands on the cluster.
	Phase ReleasePhase `json:"phase"`
	// Revision is the Helm revision now on the cluster (0 before the first install).
	// +optional
	Revision int32 `json:"revision,omitempty"`
	// ChartVersion is the chart version of that revision.
	// +optional
	ChartVersion string `json:"chartVersion,omitempty"`
	// AppliedGeneration is the metadata.generation that revision was made for.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// ReadyResources is how many of the release's resources are ready on the member.
	// +optional
	ReadyResources int32 `json:"readyResources,omitempty"`
	// TotalResources is how many resources the release has on the member.
	// +optional
	TotalResources int32 `json:"totalResources,omitempty"`
	// Reason is a CamelCase word for the last error, for example Forbidden,
	// OperationInProgress, ChartDigestMismatch, VersionNotInIndex, ReleaseTooLarge or
	// AgentDisconnected.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what failed, for example which right the user lacks on the member.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the phase last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// NextAttemptTime is when a failed operation is retried (backoff).
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// Attempts counts the attempts at the current generation.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// Revisions are the last 20 Helm revisions on the cluster, oldest first.
	// +optional
	// +listType=atomic
	Revisions []RevisionRecord `json:"revisions,omitempty"`
}

// RevisionRecord is one Helm revision on a cluster, and who made it.
type RevisionRecord struct {
	// Revision is the Helm revision number.
	Revision int32 `json:"revision"`
	// Generation is the metadata.generation the revision was made for.
	Generation int64 `json:"generation"`
	// Action is the Helm operation.
	Action RevisionAction `json:"action"`
	// User is the name of the user the operation ran as.
	User string `json:"user"`
	// Time is when the operation finished.
	Time metav1.Time `json:"time"`
	// Result is Helm's status of the revision (deployed, failed, superseded, ...).
	// +optional
	Result string `json:"result,omitempty"`
	// Message is Helm's description or error for the revision.
	// +optional
	Message string `json:"message,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationReleaseList is a list of ApplicationReleases.
type ApplicationReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of ApplicationReleases.
	Items []ApplicationRelease `json:"items"`
}
