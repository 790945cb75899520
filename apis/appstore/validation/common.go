// Package validation checks appstore.kubesphere.io objects and says what to fix.
package validation

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxMessageLength bounds free text kept on objects (as metav1.Condition's message is).
const maxMessageLength = 32768

// validateSourceURL checks a repository URL of the one scheme its source allows. The object is
// readable by anyone who may list repos, so it must carry no secret.
func validateSourceURL(raw, scheme, example string, fld *field.Path) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, raw, fmt.Sprintf("not a URL: %v", err))}
	}
	var allErrs field.ErrorList
	if !strings.EqualFold(u.Scheme, scheme) {
		allErrs = append(allErrs, field.Invalid(fld, raw, fmt.Sprintf("must be a %s:// URL, for example %s", scheme, example)))
	}
	if u.Host == "" || u.Hostname() == "" {
		allErrs = append(allErrs, field.Invalid(fld, raw, fmt.Sprintf("must name a host, for example %s", example)))
	}
	if u.User != nil {
		allErrs = append(allErrs, field.Invalid(fld, "<omitted>", "must not contain user information; put credentials in the Secret named by credentialsSecretRef"))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		allErrs = append(allErrs, field.Invalid(fld, raw, "must not contain a query or a fragment"))
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

// validateClusterName: cluster names are DNS-1123 labels (apis/clusters/validation).
func validateClusterName(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "a Cluster name")}
	}
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(name) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}

func nonNegative(v int64, fld *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(fld, v, "must be greater than or equal to 0")}
	}
	return nil
}

func maxLength(s string, n int, fld *field.Path) field.ErrorList {
	if len(s) > n {
		return field.ErrorList{field.TooLong(fld, "", n)}
	}
	return nil
}
