// Package artifacts holds the deploy manifests (kustomize bases under base/, overlays
// under overlays/). The local environment applies their namespaces and RBAC as they
// are, so every test runs on the production permissions.
package artifacts

import (
	"embed"
	"fmt"
	"math"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Base is base/: the host's control plane.
//
//go:embed base/*.yaml
var Base embed.FS

// Host are the base files the local environment applies on its host: namespaces and
// RBAC (it runs the processes itself, not the workloads).
var Host = []string{"base/namespaces.yaml", "base/cluster-apiserver-rbac.yaml", "base/controller-manager-rbac.yaml", "base/tower-proxy-rbac.yaml", "base/user-rbac.yaml"}

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

// ClusterAPIServerGOMAXPROCS is the GOMAXPROCS that base/cluster-apiserver.yaml gives
// cluster-apiserver: its CPU limit over the divisor, rounded up, as the kubelet computes a
// resourceFieldRef. The local environment runs cluster-apiserver with it.
func ClusterAPIServerGOMAXPROCS() (int, error) {
	const file = "base/cluster-apiserver.yaml"
	b, err := Base.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !strings.Contains(doc, "kind: StatefulSet") {
			continue
		}
		var sts appsv1.StatefulSet
		if err := yaml.Unmarshal([]byte(doc), &sts); err != nil {
			return 0, fmt.Errorf("%s: %w", file, err)
		}
		for _, c := range sts.Spec.Template.Spec.Containers {
			if c.Name != "cluster-apiserver" {
				continue
			}
			for _, e := range c.Env {
				ref := e.ValueFrom
				if e.Name != "GOMAXPROCS" || ref == nil || ref.ResourceFieldRef == nil || ref.ResourceFieldRef.Resource != "limits.cpu" {
					continue
				}
				limit, ok := c.Resources.Limits[corev1.ResourceCPU]
				if !ok {
					return 0, fmt.Errorf("%s: GOMAXPROCS comes from a CPU limit the container does not have", file)
				}
				divisor := ref.ResourceFieldRef.Divisor
				if divisor.IsZero() {
					return 0, fmt.Errorf("%s: GOMAXPROCS has no divisor", file)
				}
				return int(math.Ceil(float64(limit.MilliValue()) / float64(divisor.MilliValue()))), nil
			}
			return 0, fmt.Errorf("%s: cluster-apiserver has no GOMAXPROCS from its CPU limit", file)
		}
	}
	return 0, fmt.Errorf("%s: no cluster-apiserver container", file)
}
