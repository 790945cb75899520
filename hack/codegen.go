//go:build tools

// Package hack pins the code generators used by hack/update-codegen.sh, so that they
// are built at the same version as the k8s.io libraries the product links.
package hack

import (
	_ "k8s.io/code-generator"
	_ "k8s.io/kube-openapi/cmd/openapi-gen"
)
