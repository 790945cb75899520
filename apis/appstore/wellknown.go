package appstore

// The names below are contracts between components that run apart (cluster-apiserver, which
// serves the group and syncs repos, and appstore-controller, which runs Helm) and with what
// users write in selectors and annotations: each is defined here once.

// Labels.
const (
	// RepoLabel names the Repo of an Application or ApplicationVersion, so that
	// `-l appstore.kubesphere.io/repo=<repo>` selects one repository's charts.
	RepoLabel = GroupName + "/repo"
	// AppLabel names the chart of an Application or ApplicationVersion. Omitted when the
	// chart name is not a valid label value.
	AppLabel = GroupName + "/app"
	// ReleaseLabel names the ApplicationRelease on the Helm release records on a member, so
	// that a release found there can be traced back to the host object.
	ReleaseLabel = GroupName + "/release"
	// GenerationLabel is the ApplicationRelease generation a Helm revision was made for.
	GenerationLabel = GroupName + "/generation"
)

// Annotations.
const (
	// RetryAnnotation on an ApplicationRelease: changing its value retries a failed
	// generation that has used up its attempts.
	RetryAnnotation = GroupName + "/retry"
	// SyncAnnotation on a Repo: changing its value has every replica read the source now
	// (kubectl annotate repo NAME appstore.kubesphere.io/sync="$(date +%s)" --overwrite).
	SyncAnnotation = GroupName + "/sync"
	// OrphanAnnotation on a deleted ApplicationRelease: an admin lets the finalizer go
	// although some cluster refused the uninstall, leaving the release there.
	OrphanAnnotation = GroupName + "/orphan"
)

// UninstallFinalizer holds a deleted ApplicationRelease until its Helm release is uninstalled
// from every cluster (as the deleter).
const UninstallFinalizer = GroupName + "/uninstall"

// FieldManager is the server-side-apply manager name of what the App Store writes on members.
const FieldManager = "kubesphere-appstore"

// ControllerUser is appstore-controller's user on the host: its ServiceAccount
// kube-federation-system/appstore-controller, named as Kubernetes names ServiceAccounts.
const ControllerUser = "system:serviceaccount:kube-federation-system:appstore-controller"

// Reasons of the errors of GET applicationversions/<name>/chart besides the Repo reasons
// of its source (Unreachable, TLSError, Unauthorized, NotFound): appstore-controller tells
// a chart it must not install from a source it may retry.
const (
	// ChartReasonDigestMismatch: the archive's sha256 is not the one the index lists.
	ChartReasonDigestMismatch = "ChartDigestMismatch"
	// ChartReasonTooLarge: the archive is over cluster-apiserver's chart size limit.
	ChartReasonTooLarge = "ChartTooLarge"
	// ChartReasonInvalid: the index lists no usable https URL for the version, or what
	// is there is not a gzip archive.
	ChartReasonInvalid = "InvalidChart"
	// ChartReasonSourceNotSupported: charts of this Repo's source are not served yet.
	ChartReasonSourceNotSupported = "SourceNotSupported"
)

// UploaderAnnotation on an uploaded ApplicationVersion names the user who created it; the
// server sets it and it cannot be written.
const UploaderAnnotation = GroupName + "/uploaded-by"

// Limits of uploaded charts.
const (
	// MaxUploadSize is the largest chart archive that can be uploaded.
	MaxUploadSize = 20 << 20
	// MaxReviewMessage is the longest message a review transition keeps.
	MaxReviewMessage = 1024
	// MaxReviews is how many review transitions a version keeps, the newest.
	MaxReviews = 20
)

// VersionReasonNotActive: a release names an uploaded version that is not Active (not yet
// approved, or suspended), which cannot be installed or upgraded to.
const VersionReasonNotActive = "VersionNotActive"
