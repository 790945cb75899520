package v1alpha1

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults the server applies; validation states the bounds.
const (
	// DefaultSyncInterval: an index rarely changes faster, and every replica syncs.
	DefaultSyncInterval = time.Hour
	// DefaultReleaseTimeout bounds one Helm operation on one cluster (Helm's own default).
	DefaultReleaseTimeout = 5 * time.Minute
)

// DefaultMaxIndexSize caps the index body read per sync (50Mi): the largest public indexes
// are ~15 MB, and the body is held in memory while parsed.
var DefaultMaxIndexSize = resource.MustParse("50Mi")

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_RepoSpec derives the source from the URL, which already says it, and sets the
// sync interval and index cap of repos that are synced (uploads are not).
func SetDefaults_RepoSpec(obj *RepoSpec) {
	if obj.Source == "" {
		switch {
		case obj.URL == "":
			obj.Source = RepoSourceUpload
		case strings.HasPrefix(strings.ToLower(obj.URL), "oci://"):
			obj.Source = RepoSourceOCI
		default:
			// Validation then refuses anything but https://.
			obj.Source = RepoSourceIndex
		}
	}
	if obj.Source == RepoSourceUpload {
		return
	}
	if obj.SyncInterval == nil {
		obj.SyncInterval = &metav1.Duration{Duration: DefaultSyncInterval}
	}
	if obj.MaxIndexSize == nil {
		q := DefaultMaxIndexSize.DeepCopy()
		obj.MaxIndexSize = &q
	}
}

// SetDefaults_ApplicationReleaseSpec sets the removal policy and the per-cluster timeout.
// spec.releaseName defaults to metadata.name, which a defaulter cannot see (it gets the spec
// only, and a create may carry generateName): the registry strategy sets it on create.
func SetDefaults_ApplicationReleaseSpec(obj *ApplicationReleaseSpec) {
	if obj.RemovalPolicy == "" {
		// Uninstall: a release that silently stays on a cluster nobody targets is forgotten.
		obj.RemovalPolicy = RemovalPolicyUninstall
	}
	if obj.Timeout == nil {
		obj.Timeout = &metav1.Duration{Duration: DefaultReleaseTimeout}
	}
}
