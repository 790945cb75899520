package appstore

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RepoSource says where a Repo's charts come from.
type RepoSource string

const (
	// RepoSourceIndex: an https Helm repository (index.yaml and chart archives).
	RepoSourceIndex RepoSource = "Index"
	// RepoSourceOCI: an OCI registry; only the charts the Repo names are listed.
	RepoSourceOCI RepoSource = "OCI"
	// RepoSourceUpload: charts uploaded to the host, which follow the review states.
	RepoSourceUpload RepoSource = "Upload"
)

// Condition type and reasons of a Repo.
const (
	RepoSynced = "Synced"

	RepoReasonSynced        = "Synced"
	RepoReasonIndexTooLarge = "IndexTooLarge"
	RepoReasonUnreachable   = "Unreachable"
	RepoReasonTLSError      = "TLSError"
	RepoReasonUnauthorized  = "Unauthorized"
	RepoReasonNotFound      = "NotFound"
	RepoReasonInvalidIndex  = "InvalidIndex"
	RepoReasonSlowParse     = "SlowParse"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Repo is a chart repository: an https Helm repository, an OCI registry or a pool of uploads.
type Repo struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   RepoSpec
	Status RepoStatus
}

// RepoSpec is where a Repo's charts come from and how often they are read.
type RepoSpec struct {
	Source               RepoSource
	URL                  string
	Charts               []string
	CredentialsSecretRef *LocalSecretReference
	CABundle             []byte
	SyncInterval         *metav1.Duration
	MaxIndexSize         *resource.Quantity
}

// LocalSecretReference names a Secret in the credentials namespace.
type LocalSecretReference struct {
	Name string
}

// RepoStatus is what the last sync found.
type RepoStatus struct {
	ObservedGeneration int64
	Conditions         []metav1.Condition
	LastSyncTime       *metav1.Time
	LastChangeTime     *metav1.Time
	SyncRequestTime    *metav1.Time
	IndexDigest        string
	IndexSize          int64
	ChartCount         int32
	VersionCount       int32
	SkippedEntries     int32
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// RepoList is a list of Repos.
type RepoList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Repo
}
