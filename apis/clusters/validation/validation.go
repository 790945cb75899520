// Package validation checks Cluster objects and says what to fix.
package validation

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"kubesphere.io/multicluster/apis/clusters"
)

// ValidateClusterName: the name is used as a path segment and an RBAC resourceName, so it
// is held to a DNS-1123 label.
var ValidateClusterName = apimachineryvalidation.NameIsDNSLabel

// ValidateCluster validates a new Cluster.
func ValidateCluster(c *clusters.Cluster) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&c.ObjectMeta, false, ValidateClusterName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSpec(&c.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateClusterUpdate validates an update of a Cluster's spec and metadata.
func ValidateClusterUpdate(newC, oldC *clusters.Cluster) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newC.ObjectMeta, &oldC.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSpec(&newC.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateClusterStatusUpdate validates a write to the status subresource.
func ValidateClusterStatusUpdate(newC, oldC *clusters.Cluster) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newC.ObjectMeta, &oldC.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	s := &newC.Status
	allErrs = append(allErrs, metav1validation.ValidateConditions(s.Conditions, fld.Child("conditions"))...)
	if s.NodeCount < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("nodeCount"), s.NodeCount, "must be greater than or equal to 0"))
	}
	if s.ObservedGeneration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("observedGeneration"), s.ObservedGeneration, "must be greater than or equal to 0"))
	}
	// The pinned identity is set once, by the first verification, or cleared to have the
	// member verified and pinned again; never swapped for another in one write, which
	// would re-point the Cluster without any component having verified the new member.
	if old := oldC.Status.UID; old != "" && s.UID != "" && s.UID != old {
		allErrs = append(allErrs, field.Forbidden(fld.Child("uid"), fmt.Sprintf(
			"the pinned identity %s cannot be replaced by %s; to re-point the Cluster on purpose clear status.uid, and controller-manager pins the member it then verifies", old, s.UID)))
	}
	return allErrs
}

func validateSpec(spec *clusters.ClusterSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	conn := &spec.Connection
	cfld := fld.Child("connection")
	switch conn.Type {
	case clusters.ConnectionDirect:
		if conn.KubernetesAPIEndpoint == "" {
			allErrs = append(allErrs, field.Required(cfld.Child("kubernetesAPIEndpoint"), "a Direct cluster needs the https URL of the member's API server"))
		}
		if conn.CredentialsSecretRef == nil {
			allErrs = append(allErrs, field.Required(cfld.Child("credentialsSecretRef"), "a Direct cluster needs a Secret on the host holding the member's credentials"))
		}
	case clusters.ConnectionAgent:
		if conn.CredentialsSecretRef != nil {
			allErrs = append(allErrs, field.Forbidden(cfld.Child("credentialsSecretRef"), "an Agent cluster keeps its credentials on the member; the host holds none"))
		}
	case "":
		allErrs = append(allErrs, field.Required(cfld.Child("type"), "must be Direct or Agent"))
	default:
		allErrs = append(allErrs, field.NotSupported(cfld.Child("type"), conn.Type, []string{string(clusters.ConnectionDirect), string(clusters.ConnectionAgent)}))
	}
	if conn.KubernetesAPIEndpoint != "" {
		allErrs = append(allErrs, validateEndpoint(conn.KubernetesAPIEndpoint, cfld.Child("kubernetesAPIEndpoint"))...)
	}
	if len(conn.CABundle) > 0 {
		if err := validateCABundle(conn.CABundle); err != nil {
			allErrs = append(allErrs, field.Invalid(cfld.Child("caBundle"), "<omitted>", err.Error()))
		}
	}
	if ref := conn.CredentialsSecretRef; ref != nil {
		rfld := cfld.Child("credentialsSecretRef")
		if ref.Namespace == "" {
			allErrs = append(allErrs, field.Required(rfld.Child("namespace"), "the namespace of the credentials Secret"))
		} else {
			for _, msg := range apimachineryvalidation.ValidateNamespaceName(ref.Namespace, false) {
				allErrs = append(allErrs, field.Invalid(rfld.Child("namespace"), ref.Namespace, msg))
			}
		}
		if ref.Name == "" {
			allErrs = append(allErrs, field.Required(rfld.Child("name"), "the name of the credentials Secret"))
		} else {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(ref.Name) {
				allErrs = append(allErrs, field.Invalid(rfld.Child("name"), ref.Name, msg))
			}
		}
	}
	return allErrs
}

func validateEndpoint(endpoint string, fld *field.Path) field.ErrorList {
	u, err := url.Parse(endpoint)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, endpoint, fmt.Sprintf("not a URL: %v", err))}
	}
	var allErrs field.ErrorList
	if u.Scheme != "https" {
		allErrs = append(allErrs, field.Invalid(fld, endpoint, "must be an https URL, for example https://10.0.0.1:6443: credentials are never sent in clear text"))
	}
	if u.Host == "" || u.Hostname() == "" {
		allErrs = append(allErrs, field.Invalid(fld, endpoint, "must name a host, for example https://10.0.0.1:6443"))
	}
	if u.User != nil {
		// The object is readable by anyone who may list clusters: no secrets in it.
		allErrs = append(allErrs, field.Invalid(fld, "<omitted>", "must not contain user information; put credentials in the Secret named by credentialsSecretRef"))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		allErrs = append(allErrs, field.Invalid(fld, endpoint, "must not contain a query or a fragment"))
	}
	return allErrs
}

func validateCABundle(data []byte) error {
	rest := data
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("must hold only PEM CERTIFICATE blocks, found %q", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("must be PEM-encoded certificates (-----BEGIN CERTIFICATE-----), none found")
	}
	return nil
}
