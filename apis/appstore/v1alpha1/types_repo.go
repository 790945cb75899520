package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RepoSource says where a Repo's charts come from.
// +enum
type RepoSource string

const (
	// RepoSourceIndex: an https Helm repository (index.yaml and chart archives).
	RepoSourceIndex RepoSource = "Index"
	// RepoSourceOCI: an OCI registry; only the tags of the charts the Repo names are listed,
	// because registries have no index and a catalog crawl does not scale.
	RepoSourceOCI RepoSource = "OCI"
	// RepoSourceUpload: charts uploaded to the host; their versions follow the review states.
	RepoSourceUpload RepoSource = "Upload"
)

// Condition type and reasons of a Repo.
const (
	// RepoSynced is True when the last sync read the source and the snapshot is current.
	RepoSynced = "Synced"

	// RepoReasonSynced: the source was read and parsed (or was unchanged).
	RepoReasonSynced = "Synced"
	// RepoReasonIndexTooLarge: the index is over spec.maxIndexSize; the last snapshot stays.
	RepoReasonIndexTooLarge = "IndexTooLarge"
	// RepoReasonUnreachable: dial error, timeout or a 5xx answer.
	RepoReasonUnreachable = "Unreachable"
	// RepoReasonTLSError: the server's certificate is not trusted by caBundle or the system roots.
	RepoReasonTLSError = "TLSError"
	// RepoReasonUnauthorized: a 401 or 403 answer with the credentials given (or none).
	RepoReasonUnauthorized = "Unauthorized"
	// RepoReasonNotFound: the index or a named OCI chart does not exist.
	RepoReasonNotFound = "NotFound"
	// RepoReasonInvalidIndex: the index does not parse.
	RepoReasonInvalidIndex = "InvalidIndex"
	// RepoReasonSlowParse: synced (status True), but the index needed the slow general parser.
	RepoReasonSlowParse = "SlowParse"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Repo is a chart repository: an https Helm repository, an OCI registry or a pool of uploaded
// charts. Every cluster-apiserver replica syncs it and serves its Applications and
// ApplicationVersions from what it read. Its name is a DNS-1123 label: it is the first
// segment of every Application and ApplicationVersion name.
type Repo struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The name must be a DNS-1123 label (no dots).
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the charts come from and how often they are read.
	// +optional
	Spec RepoSpec `json:"spec,omitempty"`
	// Status is what the last sync found, written by cluster-apiserver's syncer.
	// +optional
	Status RepoStatus `json:"status,omitempty"`
}

// RepoSpec says where a Repo's charts come from and how often they are read.
type RepoSpec struct {
	// Source is Index, OCI or Upload. Defaults from url: oci:// is OCI, another URL is Index,
	// no URL is Upload. It cannot change, since names and stored uploads depend on it.
	// +optional
	Source RepoSource `json:"source,omitempty"`
	// URL is the https:// URL of a Helm repository (index.yaml is appended unless the path
	// ends in .yaml or .json) or the oci://host/path of a registry. Empty for Upload.
	// +optional
	URL string `json:"url,omitempty"`
	// Charts are the chart names under an OCI URL whose tags are listed. Required for OCI,
	// forbidden otherwise.
	// +optional
	// +listType=set
	Charts []string `json:"charts,omitempty"`
	// CredentialsSecretRef names a Secret in cluster-apiserver's credentials namespace with
	// the keys username and password, or token. Naming or changing it needs get on that Secret.
	// +optional
	CredentialsSecretRef *LocalSecretReference `json:"credentialsSecretRef,omitempty"`
	// CABundle is the PEM-encoded CA bundle that signs the source's serving certificate.
	// Empty means the system roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
	// SyncInterval is how often the source is read. Defaults to 1h; at least 3m, so that a
	// Repo cannot make every replica poll a server continuously.
	// +optional
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`
	// MaxIndexSize caps the bytes of the index read per sync, since the body is held in
	// memory while it is parsed. Defaults to 50Mi.
	// +optional
	MaxIndexSize *resource.Quantity `json:"maxIndexSize,omitempty"`
}

// LocalSecretReference names a Secret in the credentials namespace of cluster-apiserver, which
// is a flag, not part of the object: users cannot point the server at other namespaces.
type LocalSecretReference struct {
	// Name of the Secret.
	Name string `json:"name"`
}

// RepoStatus is what the last sync of a Repo found.
type RepoStatus struct {
	// ObservedGeneration is the metadata.generation the last sync used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Synced, with a reason saying what failed (IndexTooLarge, Unreachable,
	// TLSError, Unauthorized, NotFound, InvalidIndex) or SlowParse.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// LastSyncTime is when the source was last read successfully, changed or not.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// LastChangeTime is when the source's content last changed (a new index digest).
	// +optional
	LastChangeTime *metav1.Time `json:"lastChangeTime,omitempty"`
	// SyncRequestTime asks for a sync when it changes, as a change of the annotation
	// appstore.kubesphere.io/sync does: every replica reads the source again at once.
	// +optional
	SyncRequestTime *metav1.Time `json:"syncRequestTime,omitempty"`
	// IndexDigest is "sha256:<hex>" of the index body (OCI: of the sorted tag-to-manifest
	// list), so that an unchanged source is not parsed again.
	// +optional
	IndexDigest string `json:"indexDigest,omitempty"`
	// IndexSize is the size in bytes of the index last read.
	// +optional
	IndexSize int64 `json:"indexSize,omitempty"`
	// ChartCount is the number of charts in the snapshot.
	// +optional
	ChartCount int32 `json:"chartCount,omitempty"`
	// VersionCount is the number of chart versions in the snapshot.
	// +optional
	VersionCount int32 `json:"versionCount,omitempty"`
	// SkippedEntries counts index entries left out because they were invalid.
	// +optional
	SkippedEntries int32 `json:"skippedEntries,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// RepoList is a list of Repos.
type RepoList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of Repos.
	Items []Repo `json:"items"`
}
