// Package artifacts holds the deploy manifests (kustomize bases under base/, overlays
// under overlays/). The local environment applies their namespaces and RBAC as they
// are, so every test runs on the production permissions.
package artifacts

import "embed"

// Base is base/: the host's control plane.
//
//go:embed base/*.yaml
var Base embed.FS

// Host are the base files the local environment applies on its host: namespaces and
// RBAC (it runs the processes itself, not the workloads).
var Host = []string{"base/namespaces.yaml", "base/cluster-apiserver-rbac.yaml", "base/controller-manager-rbac.yaml", "base/tower-proxy-rbac.yaml"}
