// Package artifacts holds the deploy manifests (kustomize bases under base/, overlays
// under overlays/). The local environment applies their namespaces and RBAC as they
// are, so every test runs on the production permissions.
package artifacts

import (
	"embed"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Base is base/: the host's control plane.
//
//go:embed base/*.yaml
var Base embed.FS

// Host are the base files the local environment applies on its host: namespaces and
// RBAC (it runs the processes itself, not the workloads).
var Host = []string{"base/namespaces.yaml", "base/cluster-apiserver-rbac.yaml", "base/controller-manager-rbac.yaml", "base/tower-proxy-rbac.yaml", "base/appstore-controller-rbac.yaml", "base/user-rbac.yaml"}

// auditPolicyKey is the key of the audit policy in base/cluster-apiserver-audit.yaml.
const auditPolicyKey = "policy.yaml"

// AuditPolicy is cluster-apiserver's audit policy from base/cluster-apiserver-audit.yaml,
// so that the local environment audits as an install does.
func AuditPolicy() ([]byte, error) {
	b, err := Base.ReadFile("base/cluster-apiserver-audit.yaml")
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(b, &cm); err != nil {
		return nil, fmt.Errorf("base/cluster-apiserver-audit.yaml: %w", err)
	}
	policy, ok := cm.Data[auditPolicyKey]
	if !ok {
		return nil, fmt.Errorf("base/cluster-apiserver-audit.yaml has no %s", auditPolicyKey)
	}
	return []byte(policy), nil
}

// GOMAXPROCS is the thread count the manifests give the relays, cluster-apiserver and
// tower (proxy, and the agent join renders): the environment variable GOMAXPROCS from
// their limits.cpu (divisor 1, which the kubelet rounds up), a limit of at most one core.
// Go's own default under a CPU limit is never below 2. The local environment runs them,
// and bench-proxy its bare hops, with it, as an install does.
const GOMAXPROCS = 1
