package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AppState is the review state of an application version. The names are KubeSphere's, so
// that its users find the states they know. Versions of Index and OCI repos are Active.
// +enum
type AppState string

const (
	// AppStateDraft: uploaded (or being uploaded), not yet submitted for review.
	AppStateDraft AppState = "Draft"
	// AppStateSubmitted: waiting for a reviewer.
	AppStateSubmitted AppState = "Submitted"
	// AppStatePassed: approved by a reviewer, not yet offered to users.
	AppStatePassed AppState = "Passed"
	// AppStateRejected: refused by a reviewer; the chart may be replaced and resubmitted.
	AppStateRejected AppState = "Rejected"
	// AppStateActive: offered to users; only Active versions can be installed.
	AppStateActive AppState = "Active"
	// AppStateSuspended: withdrawn from users; existing releases keep running.
	AppStateSuspended AppState = "Suspended"
)

// ReviewAction is a transition between AppStates, each its own subresource so that RBAC can
// grant it separately.
// +enum
type ReviewAction string

const (
	// ReviewActionSubmit: Draft or Rejected to Submitted (applicationversions/submit).
	ReviewActionSubmit ReviewAction = "Submit"
	// ReviewActionPass: Submitted to Passed (applicationversions/pass).
	ReviewActionPass ReviewAction = "Pass"
	// ReviewActionReject: Submitted to Rejected (applicationversions/reject).
	ReviewActionReject ReviewAction = "Reject"
	// ReviewActionActivate: Passed to Active (applicationversions/activate).
	ReviewActionActivate ReviewAction = "Activate"
	// ReviewActionSuspend: Active to Suspended (applicationversions/suspend).
	ReviewActionSuspend ReviewAction = "Suspend"
	// ReviewActionRecover: Suspended to Active (applicationversions/recover).
	ReviewActionRecover ReviewAction = "Recover"
)

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=get,list,watch
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Application is one chart of a Repo. It is read-only and computed from the Repo's synced
// snapshot, never stored: a large repository has thousands of charts. Its name is
// "<repo>.<chart>" and it carries the labels appstore.kubesphere.io/repo and /app.
type Application struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; creationTimestamp is that of the oldest version.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec describes the chart, from its latest version.
	// +optional
	Spec ApplicationSpec `json:"spec,omitempty"`
	// Status summarizes the chart's versions.
	// +optional
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationSpec describes a chart, from its latest version.
type ApplicationSpec struct {
	// Repo is the name of the Repo the chart is in.
	Repo string `json:"repo"`
	// Chart is the chart's name as the repository spells it.
	Chart string `json:"chart"`
	// Description is the chart's one-line description.
	// +optional
	Description string `json:"description,omitempty"`
	// Icon is the URL of the chart's icon.
	// +optional
	Icon string `json:"icon,omitempty"`
	// Home is the URL of the project's home page.
	// +optional
	Home string `json:"home,omitempty"`
	// Keywords are the chart's search keywords.
	// +optional
	// +listType=atomic
	Keywords []string `json:"keywords,omitempty"`
	// Sources are URLs of the project's source code.
	// +optional
	// +listType=atomic
	Sources []string `json:"sources,omitempty"`
	// Maintainers are the chart's maintainers.
	// +optional
	// +listType=atomic
	Maintainers []Maintainer `json:"maintainers,omitempty"`
}

// Maintainer is a chart maintainer as Chart.yaml names them.
type Maintainer struct {
	// Name of the maintainer.
	Name string `json:"name"`
	// Email of the maintainer.
	// +optional
	Email string `json:"email,omitempty"`
	// URL of the maintainer.
	// +optional
	URL string `json:"url,omitempty"`
}

// ApplicationStatus summarizes a chart's versions.
type ApplicationStatus struct {
	// LatestVersion is the highest chart version (semver order).
	// +optional
	LatestVersion string `json:"latestVersion,omitempty"`
	// LatestAppVersion is the appVersion of the latest version.
	// +optional
	LatestAppVersion string `json:"latestAppVersion,omitempty"`
	// VersionCount is the number of versions of the chart.
	// +optional
	VersionCount int32 `json:"versionCount,omitempty"`
	// Deprecated is true when the latest version is marked deprecated.
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`
	// Updated is the creation time of the newest version.
	// +optional
	Updated *metav1.Time `json:"updated,omitempty"`
	// State is Active for Index and OCI repos; for uploads, the state of the newest version.
	// +optional
	State AppState `json:"state,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationList is a list of Applications.
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of Applications.
	Items []Application `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=create,delete,get,list,watch
// +genclient:method=Submit,verb=create,subresource=submit,input=ReviewRequest,result=ApplicationVersion
// +genclient:method=Pass,verb=create,subresource=pass,input=ReviewRequest,result=ApplicationVersion
// +genclient:method=Reject,verb=create,subresource=reject,input=ReviewRequest,result=ApplicationVersion
// +genclient:method=Activate,verb=create,subresource=activate,input=ReviewRequest,result=ApplicationVersion
// +genclient:method=Suspend,verb=create,subresource=suspend,input=ReviewRequest,result=ApplicationVersion
// +genclient:method=Recover,verb=create,subresource=recover,input=ReviewRequest,result=ApplicationVersion
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationVersion is one version of a chart, named "<repo>.<chart>.<version>". For Index
// and OCI repos it is read-only and computed from the synced snapshot (a full history is
// ~15,000 versions, too many to store). In an Upload repo, create makes a Draft whose chart
// archive is then uploaded to applicationversions/<name>/chart; it is reviewed through the
// subresources submit, pass, reject, activate, suspend and recover.
type ApplicationVersion struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the version's Chart.yaml and index entry.
	// +optional
	Spec ApplicationVersionSpec `json:"spec,omitempty"`
	// Status is the version's review state, changed only by the review subresources.
	// +optional
	Status ApplicationVersionStatus `json:"status,omitempty"`
}

// ApplicationVersionSpec is a chart version's Chart.yaml and index entry.
type ApplicationVersionSpec struct {
	// Repo is the name of the Repo the version is in; on a create, the part of the name
	// before its first dot when empty.
	// +optional
	Repo string `json:"repo,omitempty"`
	// Chart is the chart's name as the repository spells it.
	Chart string `json:"chart"`
	// Application is the name of the version's Application, "<repo>.<chart>"; the server
	// sets it.
	// +optional
	Application string `json:"application,omitempty"`
	// Version is the chart version as the repository spells it.
	Version string `json:"version"`
	// AppVersion is the version of the application the chart packages.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// Description is the chart's one-line description in this version.
	// +optional
	Description string `json:"description,omitempty"`
	// KubeVersion is the semver range of Kubernetes versions the chart supports.
	// +optional
	KubeVersion string `json:"kubeVersion,omitempty"`
	// Created is when the version was packaged (index) or uploaded.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
	// Digest is "sha256:<hex>" of the chart archive, checked on every download.
	// +optional
	Digest string `json:"digest,omitempty"`
	// ChartURLs are where an Index repo serves the archive, relative to the Repo URL or
	// absolute: the "urls" of the index entry.
	// +optional
	// +listType=atomic
	ChartURLs []string `json:"chartURLs,omitempty"`
	// OCIReference is the registry reference of an OCI version, host/path/chart:tag.
	// +optional
	OCIReference string `json:"ociReference,omitempty"`
	// Deprecated is true when the chart marks this version deprecated.
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`
}

// ApplicationVersionStatus is a chart version's review state.
type ApplicationVersionStatus struct {
	// State is the review state; Active for Index and OCI repos.
	// +optional
	State AppState `json:"state,omitempty"`
	// ChartSize is the size in bytes of an uploaded chart archive.
	// +optional
	ChartSize int64 `json:"chartSize,omitempty"`
	// Reviews are the last 20 review transitions of an uploaded version, oldest first.
	// +optional
	// +listType=atomic
	Reviews []ReviewRecord `json:"reviews,omitempty"`
}

// ReviewRecord is one review transition, recorded by the server with the requesting user.
type ReviewRecord struct {
	// Action is the transition made.
	Action ReviewAction `json:"action"`
	// From is the state before the transition.
	From AppState `json:"from"`
	// To is the state after the transition.
	To AppState `json:"to"`
	// User is the name of the user who made it.
	User string `json:"user"`
	// Time is when it was made.
	Time metav1.Time `json:"time"`
	// Message is the ReviewRequest's message, for example a reviewer's reason to reject.
	// +optional
	Message string `json:"message,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationVersionList is a list of ApplicationVersions.
type ApplicationVersionList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of ApplicationVersions.
	Items []ApplicationVersion `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ReviewRequest is the body of a review transition (POST to applicationversions/<name>/submit,
// pass, reject, activate, suspend or recover). Who makes it comes from the request, never
// from the body.
type ReviewRequest struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata, unused: the create handler expects an object with metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Message is kept in the version's review record, for example why it was rejected.
	// +optional
	Message string `json:"message,omitempty"`
}
