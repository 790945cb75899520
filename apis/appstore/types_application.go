package appstore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AppState is the review state of an application version (KubeSphere's names).
type AppState string

const (
	AppStateDraft     AppState = "Draft"
	AppStateSubmitted AppState = "Submitted"
	AppStatePassed    AppState = "Passed"
	AppStateRejected  AppState = "Rejected"
	AppStateActive    AppState = "Active"
	AppStateSuspended AppState = "Suspended"
)

// ReviewAction is a transition between AppStates.
type ReviewAction string

const (
	ReviewActionSubmit   ReviewAction = "Submit"
	ReviewActionPass     ReviewAction = "Pass"
	ReviewActionReject   ReviewAction = "Reject"
	ReviewActionActivate ReviewAction = "Activate"
	ReviewActionSuspend  ReviewAction = "Suspend"
	ReviewActionRecover  ReviewAction = "Recover"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Application is one chart of a Repo, computed from the Repo's snapshot.
type Application struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationSpec
	Status ApplicationStatus
}

// ApplicationSpec describes the chart, from its latest version.
type ApplicationSpec struct {
	Repo        string
	Chart       string
	Description string
	Icon        string
	Home        string
	Keywords    []string
	Sources     []string
	Maintainers []Maintainer
}

// Maintainer is a chart maintainer as Chart.yaml names them.
type Maintainer struct {
	Name  string
	Email string
	URL   string
}

// ApplicationStatus summarizes the chart's versions.
type ApplicationStatus struct {
	LatestVersion    string
	LatestAppVersion string
	VersionCount     int32
	Deprecated       bool
	Updated          *metav1.Time
	State            AppState
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationList is a list of Applications.
type ApplicationList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Application
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationVersion is one version of a chart.
type ApplicationVersion struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationVersionSpec
	Status ApplicationVersionStatus
}

// ApplicationVersionSpec is the version's Chart.yaml and index entry.
type ApplicationVersionSpec struct {
	Repo         string
	Chart        string
	Application  string
	Version      string
	AppVersion   string
	Description  string
	KubeVersion  string
	Created      *metav1.Time
	Digest       string
	ChartURLs    []string
	OCIReference string
	Deprecated   bool
}

// ApplicationVersionStatus is the version's review state.
type ApplicationVersionStatus struct {
	State     AppState
	ChartSize int64
	Reviews   []ReviewRecord
}

// ReviewRecord is one review transition of an uploaded version.
type ReviewRecord struct {
	Action  ReviewAction
	From    AppState
	To      AppState
	User    string
	Time    metav1.Time
	Message string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationVersionList is a list of ApplicationVersions.
type ApplicationVersionList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationVersion
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ReviewRequest is the body of a review transition (applicationversions/submit, ...).
type ReviewRequest struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Message string
}
