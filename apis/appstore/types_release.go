package appstore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RemovalPolicy says what happens on a cluster that leaves a release's placement.
type RemovalPolicy string

const (
	RemovalPolicyUninstall RemovalPolicy = "Uninstall"
	RemovalPolicyKeep      RemovalPolicy = "Keep"
)

// ReleasePhase is where a release stands on one cluster.
type ReleasePhase string

const (
	ReleasePhasePending        ReleasePhase = "Pending"
	ReleasePhaseInstalling     ReleasePhase = "Installing"
	ReleasePhaseUpgrading      ReleasePhase = "Upgrading"
	ReleasePhaseRollingBack    ReleasePhase = "RollingBack"
	ReleasePhaseDeployed       ReleasePhase = "Deployed"
	ReleasePhaseFailed         ReleasePhase = "Failed"
	ReleasePhaseUninstalling   ReleasePhase = "Uninstalling"
	ReleasePhaseUninstalled    ReleasePhase = "Uninstalled"
	ReleasePhaseKept           ReleasePhase = "Kept"
	ReleasePhaseClusterDeleted ReleasePhase = "ClusterDeleted"
	ReleasePhaseUnreachable    ReleasePhase = "Unreachable"
)

// RequestAction is what a user asked of a release.
type RequestAction string

const (
	RequestActionCreate   RequestAction = "Create"
	RequestActionUpdate   RequestAction = "Update"
	RequestActionRollback RequestAction = "Rollback"
	RequestActionDelete   RequestAction = "Delete"
)

// RevisionAction is the Helm operation that made a revision.
type RevisionAction string

const (
	RevisionActionInstall   RevisionAction = "Install"
	RevisionActionUpgrade   RevisionAction = "Upgrade"
	RevisionActionRollback  RevisionAction = "Rollback"
	RevisionActionUninstall RevisionAction = "Uninstall"
)

// Condition types of an ApplicationRelease.
const (
	ReleaseReady       = "Ready"
	ReleaseProgressing = "Progressing"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRelease installs one application version as a Helm release on each cluster
// of its placement.
type ApplicationRelease struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationReleaseSpec
	Status ApplicationReleaseStatus
}

// ApplicationReleaseSpec is what to install, where, and how.
type ApplicationReleaseSpec struct {
	Application     string
	Version         string
	Values          *runtime.RawExtension
	TargetNamespace string
	CreateNamespace bool
	ReleaseName     string
	Placement       Placement
	RemovalPolicy   RemovalPolicy
	Rollback        *ReleaseRollback
	Timeout         *metav1.Duration
}

// Placement selects the clusters of a release: exactly one of Clusters and ClusterSelector.
type Placement struct {
	Clusters        []string
	ClusterSelector *metav1.LabelSelector
}

// ReleaseRollback asks to return to the revisions an earlier generation deployed.
type ReleaseRollback struct {
	ToGeneration int64
	Revisions    map[string]int32
}

// ApplicationReleaseStatus is the release's state on every cluster and who asked for it.
type ApplicationReleaseStatus struct {
	ObservedGeneration int64
	Requester          Requester
	Requests           []RequestRecord
	Conditions         []metav1.Condition
	Clusters           []ClusterRelease
}

// Requester is the user the release acts as, recorded by the server.
type Requester struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// RequestRecord is one request a user made of the release.
type RequestRecord struct {
	Generation int64
	Action     RequestAction
	User       string
	Time       metav1.Time
	Version    string
}

// ClusterRelease is the release on one cluster.
type ClusterRelease struct {
	Cluster            string
	Phase              ReleasePhase
	Revision           int32
	ChartVersion       string
	AppliedGeneration  int64
	ReadyResources     int32
	TotalResources     int32
	Reason             string
	Message            string
	LastTransitionTime metav1.Time
	NextAttemptTime    *metav1.Time
	Attempts           int32
	Revisions          []RevisionRecord
}

// RevisionRecord is one Helm revision on a cluster.
type RevisionRecord struct {
	Revision   int32
	Generation int64
	Action     RevisionAction
	User       string
	Time       metav1.Time
	Result     string
	Message    string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationReleaseList is a list of ApplicationReleases.
type ApplicationReleaseList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationRelease
}
