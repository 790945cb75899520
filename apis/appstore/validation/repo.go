package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"kubesphere.io/multicluster/apis/appstore"
)

// Bounds of a Repo.
const (
	// MinSyncInterval: every replica syncs every Repo, so a shorter interval multiplies load
	// on the repository server.
	MinSyncInterval = 3 * time.Minute
	// MaxOCICharts bounds the charts an OCI Repo lists, one tag listing each per sync.
	MaxOCICharts = 100
	// maxChartNameLength is the OCI repository-component length registries accept in practice.
	maxChartNameLength = 128
)

// MaxIndexSizeLimit is the largest spec.maxIndexSize: the index is held in memory while parsed
// by every cluster-apiserver replica.
var MaxIndexSizeLimit = resource.MustParse("1Gi")

// ociComponent is one path component of an OCI repository name (distribution's grammar).
var ociComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// indexDigest is the form of status.indexDigest.
var indexDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidateRepoName: a Repo's name is the first segment of every Application and
// ApplicationVersion name, split at the first dot, so it is held to a DNS-1123 label.
var ValidateRepoName = apimachineryvalidation.NameIsDNSLabel

// ValidateRepo validates a new Repo.
func ValidateRepo(r *appstore.Repo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, false, ValidateRepoName, field.NewPath("metadata"))
	return append(allErrs, validateRepoSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateRepoUpdate validates an update of a Repo's spec and metadata.
func ValidateRepoUpdate(newR, oldR *appstore.Repo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateRepoSpec(&newR.Spec, field.NewPath("spec"))...)
	// Names and stored uploads depend on the source: an Upload repo turned Index would
	// orphan its uploads, and releases would silently switch charts.
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(newR.Spec.Source, oldR.Spec.Source, field.NewPath("spec", "source"))...)
}

// ValidateRepoStatusUpdate validates a write to the status subresource.
func ValidateRepoStatusUpdate(newR, oldR *appstore.Repo) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	s := &newR.Status
	allErrs = append(allErrs, nonNegative(s.ObservedGeneration, fld.Child("observedGeneration"))...)
	allErrs = append(allErrs, metav1validation.ValidateConditions(s.Conditions, fld.Child("conditions"))...)
	allErrs = append(allErrs, nonNegative(s.IndexSize, fld.Child("indexSize"))...)
	allErrs = append(allErrs, nonNegative(int64(s.ChartCount), fld.Child("chartCount"))...)
	allErrs = append(allErrs, nonNegative(int64(s.VersionCount), fld.Child("versionCount"))...)
	allErrs = append(allErrs, nonNegative(int64(s.SkippedEntries), fld.Child("skippedEntries"))...)
	if s.IndexDigest != "" && !indexDigest.MatchString(s.IndexDigest) {
		allErrs = append(allErrs, field.Invalid(fld.Child("indexDigest"), s.IndexDigest, "must be sha256:<64 lowercase hex digits>"))
	}
	return allErrs
}

func validateRepoSpec(spec *appstore.RepoSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ufld := fld.Child("url")
	switch spec.Source {
	case appstore.RepoSourceIndex:
		if spec.URL == "" {
			allErrs = append(allErrs, field.Required(ufld, "an Index repo needs the https URL of a Helm repository"))
		} else {
			allErrs = append(allErrs, validateSourceURL(spec.URL, "https", "https://charts.example.com/stable", ufld)...)
		}
	case appstore.RepoSourceOCI:
		if spec.URL == "" {
			allErrs = append(allErrs, field.Required(ufld, "an OCI repo needs the oci:// URL of a registry path"))
		} else {
			allErrs = append(allErrs, validateSourceURL(spec.URL, "oci", "oci://registry.example.com/charts", ufld)...)
		}
		if len(spec.Charts) == 0 {
			allErrs = append(allErrs, field.Required(fld.Child("charts"), "an OCI repo lists the tags of the charts it names; registries are never crawled"))
		}
	case appstore.RepoSourceUpload:
		if spec.URL != "" {
			allErrs = append(allErrs, field.Forbidden(ufld, "an Upload repo holds uploaded charts and reads no URL"))
		}
		if spec.CredentialsSecretRef != nil {
			allErrs = append(allErrs, field.Forbidden(fld.Child("credentialsSecretRef"), "an Upload repo reads no source"))
		}
		if len(spec.CABundle) > 0 {
			allErrs = append(allErrs, field.Forbidden(fld.Child("caBundle"), "an Upload repo reads no source"))
		}
	case "":
		allErrs = append(allErrs, field.Required(fld.Child("source"), "must be Index, OCI or Upload"))
	default:
		allErrs = append(allErrs, field.NotSupported(fld.Child("source"), spec.Source, []string{
			string(appstore.RepoSourceIndex), string(appstore.RepoSourceOCI), string(appstore.RepoSourceUpload)}))
	}
	if len(spec.Charts) > 0 && spec.Source != appstore.RepoSourceOCI {
		allErrs = append(allErrs, field.Forbidden(fld.Child("charts"), "only an OCI repo names its charts; an index lists them"))
	} else {
		allErrs = append(allErrs, validateCharts(spec.Charts, fld.Child("charts"))...)
	}
	if ref := spec.CredentialsSecretRef; ref != nil {
		nfld := fld.Child("credentialsSecretRef", "name")
		if ref.Name == "" {
			allErrs = append(allErrs, field.Required(nfld, "the name of a Secret in the credentials namespace"))
		} else {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(ref.Name) {
				allErrs = append(allErrs, field.Invalid(nfld, ref.Name, msg))
			}
		}
	}
	if len(spec.CABundle) > 0 {
		if err := validateCABundle(spec.CABundle); err != nil {
			allErrs = append(allErrs, field.Invalid(fld.Child("caBundle"), "<omitted>", err.Error()))
		}
	}
	if d := spec.SyncInterval; d != nil && d.Duration < MinSyncInterval {
		allErrs = append(allErrs, field.Invalid(fld.Child("syncInterval"), d.Duration.String(),
			fmt.Sprintf("must be at least %s: every cluster-apiserver replica syncs every repo", MinSyncInterval)))
	}
	if q := spec.MaxIndexSize; q != nil {
		if q.Sign() <= 0 {
			allErrs = append(allErrs, field.Invalid(fld.Child("maxIndexSize"), q.String(), "must be greater than 0"))
		} else if q.Cmp(MaxIndexSizeLimit) > 0 {
			allErrs = append(allErrs, field.Invalid(fld.Child("maxIndexSize"), q.String(),
				fmt.Sprintf("must be at most %s: every replica holds the index in memory while parsing it", MaxIndexSizeLimit.String())))
		}
	}
	return allErrs
}

func validateCharts(charts []string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(charts) > MaxOCICharts {
		allErrs = append(allErrs, field.TooMany(fld, len(charts), MaxOCICharts))
	}
	seen := make(map[string]bool, len(charts))
	for i, c := range charts {
		cfld := fld.Index(i)
		switch {
		case c == "":
			allErrs = append(allErrs, field.Required(cfld, "a chart name"))
		case len(c) > maxChartNameLength:
			allErrs = append(allErrs, field.TooLong(cfld, "", maxChartNameLength))
		case !ociComponent.MatchString(c):
			allErrs = append(allErrs, field.Invalid(cfld, c, "must be one OCI repository path component: lowercase letters and digits, separated by '.', '_', '__' or dashes (for example my-chart)"))
		case seen[strings.ToLower(c)]:
			allErrs = append(allErrs, field.Duplicate(cfld, c))
		}
		seen[strings.ToLower(c)] = true
	}
	return allErrs
}
