package validation

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"kubesphere.io/multicluster/apis/appstore"
)

// Bounds of an ApplicationRelease.
const (
	// MaxValuesSize: Helm stores the values in the release Secret on every cluster, next to
	// the chart, and a Secret holds at most 1 MiB.
	MaxValuesSize = 256 * 1024
	// MaxReleaseNameLength is Helm's own limit: the name goes into Secret names and labels.
	MaxReleaseNameLength = 53
	// MaxReleaseTimeout: one operation holds the release's only operation slot that long.
	MaxReleaseTimeout = time.Hour
	// maxVersionLength bounds spec.version; versions are looked up, never parsed here.
	maxVersionLength = 256
	// Status lists are kept short by the server and controller; these are their caps.
	maxRequests  = 50
	maxRevisions = 20
)

// ValidateApplicationRelease validates a new ApplicationRelease.
func ValidateApplicationRelease(r *appstore.ApplicationRelease) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReleaseSpec(r, field.NewPath("spec"))...)
	if r.Spec.Rollback != nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "rollback"), "a new release has no earlier revision to roll back to"))
	}
	return allErrs
}

// ValidateApplicationReleaseUpdate validates an update of an ApplicationRelease's spec and metadata.
func ValidateApplicationReleaseUpdate(newR, oldR *appstore.ApplicationRelease) field.ErrorList {
	fld := field.NewPath("spec")
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReleaseSpec(newR, fld)...)
	// Helm cannot rename a release: a new name would install a second copy beside the first.
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(newR.Spec.ReleaseName, oldR.Spec.ReleaseName, fld.Child("releaseName"))...)
	// Nor move one: a new namespace would install a second copy and orphan the first.
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(newR.Spec.TargetNamespace, oldR.Spec.TargetNamespace, fld.Child("targetNamespace"))...)
	if rb := newR.Spec.Rollback; rb != nil {
		allErrs = append(allErrs, validateRollback(rb, oldR, fld.Child("rollback"))...)
	}
	return allErrs
}

// ValidateApplicationReleaseStatusUpdate validates a write to the status subresource (the
// controller's). Requester and requests are the server's and kept by the status strategy.
func ValidateApplicationReleaseStatusUpdate(newR, oldR *appstore.ApplicationRelease) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	s := &newR.Status
	allErrs = append(allErrs, nonNegative(s.ObservedGeneration, fld.Child("observedGeneration"))...)
	allErrs = append(allErrs, metav1validation.ValidateConditions(s.Conditions, fld.Child("conditions"))...)
	if len(s.Requests) > maxRequests {
		allErrs = append(allErrs, field.TooMany(fld.Child("requests"), len(s.Requests), maxRequests))
	}
	seen := make(map[string]bool, len(s.Clusters))
	for i := range s.Clusters {
		cfld := fld.Child("clusters").Index(i)
		c := &s.Clusters[i]
		if seen[c.Cluster] {
			allErrs = append(allErrs, field.Duplicate(cfld.Child("cluster"), c.Cluster))
		}
		seen[c.Cluster] = true
		allErrs = append(allErrs, validateClusterRelease(c, cfld)...)
	}
	return allErrs
}

// ValidateReviewRequest validates the body of a review transition; its message is kept in
// the version's review records.
func ValidateReviewRequest(r *appstore.ReviewRequest) field.ErrorList {
	return maxLength(r.Message, 1024, field.NewPath("message"))
}

func validateReleaseSpec(r *appstore.ApplicationRelease, fld *field.Path) field.ErrorList {
	spec := &r.Spec
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateApplicationName(spec.Application, fld.Child("application"))...)
	if spec.Version == "" {
		allErrs = append(allErrs, field.Required(fld.Child("version"), "the exact chart version to install"))
	} else {
		allErrs = append(allErrs, maxLength(spec.Version, maxVersionLength, fld.Child("version"))...)
	}
	allErrs = append(allErrs, validateValues(spec, fld.Child("values"))...)
	if spec.TargetNamespace == "" {
		allErrs = append(allErrs, field.Required(fld.Child("targetNamespace"), "the namespace on each member to install into"))
	} else {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(spec.TargetNamespace, false) {
			allErrs = append(allErrs, field.Invalid(fld.Child("targetNamespace"), spec.TargetNamespace, msg))
		}
	}
	if spec.ReleaseName != "" {
		allErrs = append(allErrs, validateReleaseName(spec.ReleaseName, fld.Child("releaseName"))...)
	} else if r.Name != "" {
		// The server defaults releaseName to the object's name, so the name must be one.
		for _, e := range validateReleaseName(r.Name, field.NewPath("metadata", "name")) {
			e.Detail += " (spec.releaseName defaults to metadata.name; set it to use a longer name)"
			allErrs = append(allErrs, e)
		}
	}
	allErrs = append(allErrs, validatePlacement(&spec.Placement, fld.Child("placement"))...)
	switch spec.RemovalPolicy {
	case appstore.RemovalPolicyUninstall, appstore.RemovalPolicyKeep:
	case "":
		allErrs = append(allErrs, field.Required(fld.Child("removalPolicy"), "must be Uninstall or Keep"))
	default:
		allErrs = append(allErrs, field.NotSupported(fld.Child("removalPolicy"), spec.RemovalPolicy,
			[]string{string(appstore.RemovalPolicyUninstall), string(appstore.RemovalPolicyKeep)}))
	}
	if t := spec.Timeout; t != nil && (t.Duration <= 0 || t.Duration > MaxReleaseTimeout) {
		allErrs = append(allErrs, field.Invalid(fld.Child("timeout"), t.Duration.String(),
			fmt.Sprintf("must be greater than 0 and at most %s", MaxReleaseTimeout)))
	}
	return allErrs
}

// validateApplicationName checks the "<repo>.<chart>" shape. The part after the repo is looked
// up in the repo's snapshot, never parsed, so only the repo segment is checked on its own.
func validateApplicationName(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "the Application to install, <repo>.<chart>")}
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	repo, chart, ok := strings.Cut(name, ".")
	if !ok || repo == "" || chart == "" {
		return append(allErrs, field.Invalid(fld, name, "must be <repo>.<chart>, the name of an Application"))
	}
	for _, msg := range utilvalidation.IsDNS1123Label(repo) {
		allErrs = append(allErrs, field.Invalid(fld, name, "the repo segment: "+msg))
	}
	return allErrs
}

func validateReleaseName(name string, fld *field.Path) field.ErrorList {
	if len(name) > MaxReleaseNameLength {
		return field.ErrorList{field.TooLong(fld, "", MaxReleaseNameLength)}
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}

func validateValues(spec *appstore.ApplicationReleaseSpec, fld *field.Path) field.ErrorList {
	if spec.Values == nil || len(spec.Values.Raw) == 0 {
		return nil
	}
	raw := spec.Values.Raw
	if len(raw) > MaxValuesSize {
		return field.ErrorList{field.TooLong(fld, "", MaxValuesSize)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return field.ErrorList{field.Invalid(fld, "<omitted>", "must be a JSON object of chart values: "+err.Error())}
	}
	return nil
}

func validatePlacement(p *appstore.Placement, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case len(p.Clusters) > 0 && p.ClusterSelector != nil:
		allErrs = append(allErrs, field.Forbidden(fld.Child("clusterSelector"), "set exactly one of clusters and clusterSelector"))
	case len(p.Clusters) == 0 && p.ClusterSelector == nil:
		allErrs = append(allErrs, field.Required(fld, "exactly one of clusters and clusterSelector"))
	}
	seen := make(map[string]bool, len(p.Clusters))
	for i, c := range p.Clusters {
		cfld := fld.Child("clusters").Index(i)
		if seen[c] {
			allErrs = append(allErrs, field.Duplicate(cfld, c))
			continue
		}
		seen[c] = true
		allErrs = append(allErrs, validateClusterName(c, cfld)...)
	}
	if p.ClusterSelector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.ClusterSelector,
			metav1validation.LabelSelectorValidationOptions{}, fld.Child("clusterSelector"))...)
	}
	return allErrs
}

func validateRollback(rb *appstore.ReleaseRollback, oldR *appstore.ApplicationRelease, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if rb.ToGeneration == 0 && len(rb.Revisions) == 0 {
		allErrs = append(allErrs, field.Required(fld, "toGeneration or revisions"))
	}
	if rb.ToGeneration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("toGeneration"), rb.ToGeneration, "must be greater than 0"))
	} else if rb.ToGeneration > 0 && rb.ToGeneration >= oldR.Generation &&
		(oldR.Spec.Rollback == nil || !apiequality.Semantic.DeepEqual(rb, oldR.Spec.Rollback)) {
		// Checked when the rollback is asked for: kept unchanged, it stays valid later.
		allErrs = append(allErrs, field.Invalid(fld.Child("toGeneration"), rb.ToGeneration,
			fmt.Sprintf("must be an earlier generation than the current one, %d", oldR.Generation)))
	}
	// In key order, so that the same object always gets the same errors.
	for _, cluster := range slices.Sorted(maps.Keys(rb.Revisions)) {
		rev := rb.Revisions[cluster]
		rfld := fld.Child("revisions").Key(cluster)
		allErrs = append(allErrs, validateClusterName(cluster, rfld)...)
		if rev < 1 {
			allErrs = append(allErrs, field.Invalid(rfld, rev, "must be a Helm revision, 1 or more"))
		}
	}
	return allErrs
}

var releasePhases = []string{
	string(appstore.ReleasePhasePending), string(appstore.ReleasePhaseInstalling), string(appstore.ReleasePhaseUpgrading),
	string(appstore.ReleasePhaseRollingBack), string(appstore.ReleasePhaseDeployed), string(appstore.ReleasePhaseFailed),
	string(appstore.ReleasePhaseUninstalling), string(appstore.ReleasePhaseUninstalled), string(appstore.ReleasePhaseKept),
	string(appstore.ReleasePhaseClusterDeleted), string(appstore.ReleasePhaseUnreachable),
}

var revisionActions = []string{
	string(appstore.RevisionActionInstall), string(appstore.RevisionActionUpgrade),
	string(appstore.RevisionActionRollback), string(appstore.RevisionActionUninstall),
}

func validateClusterRelease(c *appstore.ClusterRelease, fld *field.Path) field.ErrorList {
	allErrs := validateClusterName(c.Cluster, fld.Child("cluster"))
	if c.Phase == "" {
		allErrs = append(allErrs, field.Required(fld.Child("phase"), ""))
	} else if !slices.Contains(releasePhases, string(c.Phase)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("phase"), c.Phase, releasePhases))
	}
	allErrs = append(allErrs, nonNegative(int64(c.Revision), fld.Child("revision"))...)
	allErrs = append(allErrs, nonNegative(c.AppliedGeneration, fld.Child("appliedGeneration"))...)
	allErrs = append(allErrs, nonNegative(int64(c.ReadyResources), fld.Child("readyResources"))...)
	allErrs = append(allErrs, nonNegative(int64(c.TotalResources), fld.Child("totalResources"))...)
	allErrs = append(allErrs, nonNegative(int64(c.Attempts), fld.Child("attempts"))...)
	if c.ReadyResources > c.TotalResources {
		allErrs = append(allErrs, field.Invalid(fld.Child("readyResources"), c.ReadyResources,
			fmt.Sprintf("must not exceed totalResources (%d)", c.TotalResources)))
	}
	allErrs = append(allErrs, maxLength(c.Message, maxMessageLength, fld.Child("message"))...)
	if len(c.Revisions) > maxRevisions {
		allErrs = append(allErrs, field.TooMany(fld.Child("revisions"), len(c.Revisions), maxRevisions))
	}
	for i := range c.Revisions {
		r := &c.Revisions[i]
		rfld := fld.Child("revisions").Index(i)
		if r.Revision < 1 {
			allErrs = append(allErrs, field.Invalid(rfld.Child("revision"), r.Revision, "must be a Helm revision, 1 or more"))
		}
		allErrs = append(allErrs, nonNegative(r.Generation, rfld.Child("generation"))...)
		if !slices.Contains(revisionActions, string(r.Action)) {
			allErrs = append(allErrs, field.NotSupported(rfld.Child("action"), r.Action, revisionActions))
		}
		allErrs = append(allErrs, maxLength(r.Message, maxMessageLength, rfld.Child("message"))...)
	}
	return allErrs
}
