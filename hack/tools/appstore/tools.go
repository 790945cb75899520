//go:build tools

// Package tools pins the helm CLI; build-tools.sh builds it (and ./registry).
package tools

import _ "helm.sh/helm/v4/cmd/helm"
