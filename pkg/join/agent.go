package join

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

// AgentName names the agent's Deployment and Secret on a member.
const AgentName = "tower-agent"

// AgentOptions say how to join a member by agent.
type AgentOptions struct {
	Options
	// TowerProxyServers are the tower proxy URLs the agent dials.
	TowerProxyServers []string
	// TowerProxyCA is the CA of the tower proxies' serving certificates: the agent trusts it only.
	TowerProxyCA []byte
	// Image is the tower image of the agent's Deployment.
	Image string
}

// AgentJoin is what joining by agent made: the token, shown this once, and the member's
// manifests, which carry it.
type AgentJoin struct {
	Token     string
	Manifests []runtime.Object
}

// JoinAgent registers a member as an Agent Cluster: a join token whose hash only is kept
// on the host, and the Cluster. With o.Member it also checks the member is not joined yet
// and applies the agent's manifests there; without, the caller applies them.
func JoinAgent(ctx context.Context, o AgentOptions) (*AgentJoin, error) {
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		return nil, fmt.Errorf("invalid cluster name %q: %v", o.Name, errs)
	}
	if o.Host == nil {
		return nil, errors.New("the host's connection is required")
	}
	if len(o.TowerProxyServers) == 0 || len(o.TowerProxyCA) == 0 {
		return nil, errors.New("the tower proxy URLs and their CA are required: the agent dials them and trusts that CA only")
	}
	hostClusters, host, err := hostClients(o.Host)
	if err != nil {
		return nil, err
	}
	var member kubernetes.Interface
	uid := ""
	if o.Member != nil {
		if member, err = kubernetes.NewForConfig(o.Member); err != nil {
			return nil, err
		}
		if uid, err = memberUID(ctx, member); err != nil {
			return nil, fmt.Errorf("cannot read the member at %s: %w", o.Member.Host, err)
		}
	}
	if err := checkNew(ctx, hostClusters, o.Name, uid); err != nil {
		return nil, err
	}
	token, err := agenttoken.New()
	if err != nil {
		return nil, err
	}
	secret := agenttoken.NewSecret(o.CredentialsNamespace, o.Name, token)
	if _, err := host.CoreV1().Secrets(o.CredentialsNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("storing the token's hash on the host: %w", err)
	}
	cluster := &v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}},
		Spec:       v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionAgent}},
	}
	if _, err := hostClusters.ClustersV1alpha1().Clusters().Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		_ = host.CoreV1().Secrets(o.CredentialsNamespace).Delete(context.WithoutCancel(ctx), secret.Name, metav1.DeleteOptions{})
		return nil, fmt.Errorf("creating Cluster %s on the host: %w", o.Name, err)
	}
	say(o.Out, "host: Cluster %s created (Agent), token hash in Secret %s/%s", o.Name, o.CredentialsNamespace, secret.Name)
	out := &AgentJoin{Token: token, Manifests: AgentManifests(o.Name, token, o.TowerProxyServers, o.TowerProxyCA, o.Image)}
	if member != nil {
		if err := applyAgent(ctx, member, out.Manifests); err != nil {
			return out, err
		}
		say(o.Out, "member: ServiceAccount %s/%s, ClusterRole %s and Deployment %s/%s applied", MemberNamespace, ServiceAccountName, ClusterRoleName, MemberNamespace, AgentName)
		if o.Wait > 0 {
			return out, waitReady(ctx, hostClusters, o.Name, o.Wait, o.Out)
		}
	}
	return out, nil
}

// AgentManifests are the member's objects for an agent: the proxy's ServiceAccount and
// RBAC (impersonation, and reading namespaces and nodes for health), a Secret with the
// token and the pinned CA, and the Deployment. Its rolling update starts the new agent
// before the old one stops: the tower proxy takes both tunnels, so there is no gap.
func AgentManifests(cluster, token string, towerProxyServers []string, towerProxyCA []byte, image string) []runtime.Object {
	labels := map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy, "app.kubernetes.io/name": AgentName}
	one := int32(1)
	zero := intstr.FromInt32(0)
	surge := intstr.FromInt32(1)
	yes, no := true, false
	uid := int64(65532)
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName, Namespace: MemberNamespace, Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}}}
	secret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: AgentName, Namespace: MemberNamespace, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"token": token, "ca.crt": string(towerProxyCA)}}
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: AgentName, Namespace: MemberNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": AgentName}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: ServiceAccountName,
					SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:  "agent",
						Image: image,
						Args: []string{"agent", "--cluster-name=" + cluster, "--tower-proxy-servers=" + strings.Join(towerProxyServers, ","),
							"--tower-proxy-ca-file=/etc/tower/ca.crt", "--token-file=/etc/tower/token", "--health-bind-address=:8081"},
						// Go's default under a CPU limit is at least 2 threads; the limit's own
						// count (rounded up) suits a relay.
						Env: []corev1.EnvVar{{Name: "GOMAXPROCS", ValueFrom: &corev1.EnvVarSource{
							ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1")}}}},
						Ports: []corev1.ContainerPort{{Name: "health", ContainerPort: 8081}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("health")}}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("health")}}},
						VolumeMounts:   []corev1.VolumeMount{{Name: "tower", MountPath: "/etc/tower", ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
					Volumes: []corev1.Volume{{Name: "tower", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: AgentName}}}},
				},
			},
		},
	}
	return []runtime.Object{sa, ProxyClusterRole(), ProxyClusterRoleBinding(rbacSubject()), secret, deploy}
}

// ManifestsYAML renders objects as one YAML stream, for kubectl apply -f -.
func ManifestsYAML(objs []runtime.Object) ([]byte, error) {
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return []byte(b.String()), nil
}

// applyAgent creates or updates the agent's objects on the member.
func applyAgent(ctx context.Context, member kubernetes.Interface, objs []runtime.Object) error {
	if err := EnsureMemberAccess(ctx, member); err != nil {
		return err
	}
	for _, o := range objs {
		var err error
		switch obj := o.(type) {
		case *corev1.Secret:
			if _, err = member.CoreV1().Secrets(obj.Namespace).Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = member.CoreV1().Secrets(obj.Namespace).Update(ctx, obj, metav1.UpdateOptions{})
			}
		case *appsv1.Deployment:
			if _, err = member.AppsV1().Deployments(obj.Namespace).Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = member.AppsV1().Deployments(obj.Namespace).Update(ctx, obj, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("applying the agent on the member: %w", err)
		}
	}
	return nil
}
