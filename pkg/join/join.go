// Package join is what kubectl-ksmc join and unjoin do: register a member cluster on the
// host and remove it again. Direct: the member gets a ServiceAccount whose only rights are
// what the proxy core needs (impersonation, and reading namespaces and nodes for identity
// and health), and the host stores that ServiceAccount's token, never the admin
// credential join was run with. Agent (agent.go): the host stores only a join token's
// hash, and the member runs tower agent with that least-privilege ServiceAccount.
package join

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clientset "kubesphere.io/multicluster/generated/clientset/versioned"
)

const (
	// MemberNamespace holds the proxy's ServiceAccount on a member.
	MemberNamespace = "kube-system"
	// ServiceAccountName is the proxy's identity on a member.
	ServiceAccountName = "kubesphere-cluster-proxy"
	// ClusterRoleName names the proxy's ClusterRole (and its binding) on a member.
	ClusterRoleName = "kubesphere:cluster-proxy"

	tokenSecretName = ServiceAccountName + "-token"
)

// ProxyClusterRole is what the host's credential may do on a member: impersonate the
// calling user (users, groups, service accounts, UIDs and extras), and read namespaces
// (the kube-system UID is the member's identity) and nodes (status). The member's own
// RBAC then judges the impersonated user.
func ProxyClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
			// uids, and extras checked per key as userextras/<key>; RBAC has no
			// "userextras/*" wildcard, so every resource of the group, for impersonate only.
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"impersonate"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

// ProxyClusterRoleBinding binds ProxyClusterRole to subject.
func ProxyClusterRoleBinding(subject rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName, Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ClusterRoleName},
		Subjects:   []rbacv1.Subject{subject},
	}
}

// Options says what to join and where.
type Options struct {
	// Name of the Cluster on the host: a DNS-1123 label.
	Name string
	// Member reaches the member with rights to create a ServiceAccount and RBAC there. It
	// is used during join only and stored nowhere.
	Member *rest.Config
	// Endpoint is the member's API server as the host reaches it; empty means Member.Host.
	Endpoint string
	// Host reaches the host cluster (its kube-apiserver, which serves Clusters).
	Host *rest.Config
	// CredentialsNamespace is the host namespace of the credentials Secret.
	CredentialsNamespace string
	// Wait, when positive, is how long to wait for the Cluster to become Ready.
	Wait time.Duration
	// HostCluster marks the cluster joined as the host itself (label
	// cluster-role.kubesphere.io/host), so the host is managed like any member. At most
	// one Cluster is the host.
	HostCluster bool
	// Out receives progress lines; nil is quiet.
	Out io.Writer
}

// Join registers the member as a Direct Cluster. It refuses a name that is taken and a
// member that is already joined, and leaves nothing behind on the host when it fails.
func Join(ctx context.Context, o Options) error {
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		return fmt.Errorf("invalid cluster name %q: %v", o.Name, errs)
	}
	if o.Member == nil || o.Host == nil {
		return errors.New("both the member's and the host's connection are required")
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = o.Member.Host
	}
	if u, err := url.Parse(endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("the member endpoint %q is not an https URL", endpoint)
	}
	member, err := kubernetes.NewForConfig(o.Member)
	if err != nil {
		return err
	}
	hostClusters, host, err := hostClients(o.Host)
	if err != nil {
		return err
	}

	// The member: reachable, and who it is.
	version, err := member.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("cannot reach the member at %s: %w", o.Member.Host, err)
	}
	uid, err := memberUID(ctx, member)
	if err != nil {
		return err
	}
	// The host: the name is free and this member is not joined under another name.
	if err := checkNew(ctx, hostClusters, o.Name, uid); err != nil {
		return err
	}
	if o.HostCluster {
		if err := checkNoHost(ctx, hostClusters); err != nil {
			return err
		}
	}
	say(o.Out, "member %s (Kubernetes %s, kube-system UID %s) is reachable and not joined yet", o.Member.Host, version.GitVersion, uid)

	token, ca, err := ServiceAccountToken(ctx, member)
	if err != nil {
		return err
	}
	if len(o.Member.CAData) > 0 {
		ca = o.Member.CAData // what the caller trusts for this endpoint
	}
	kubeconfig, err := credentialKubeconfig(o.Name, endpoint, ca, token)
	if err != nil {
		return err
	}
	// Prove the stored credential works, and reaches the same member, before storing it.
	cred, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return err
	}
	credClient, err := kubernetes.NewForConfig(cred)
	if err != nil {
		return err
	}
	if got, err := memberUID(ctx, credClient); err != nil {
		return fmt.Errorf("the new credential does not work at %s: %w", endpoint, err)
	} else if got != uid {
		return fmt.Errorf("%s is another cluster (kube-system UID %s) than the one joined (%s)", endpoint, got, uid)
	}
	say(o.Out, "member: ServiceAccount %s/%s bound to ClusterRole %s", MemberNamespace, ServiceAccountName, ClusterRoleName)

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: o.Name + "-credentials", Namespace: o.CredentialsNamespace,
			Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy, clustersapi.ClusterLabel: o.Name},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"kubeconfig": kubeconfig},
	}
	if _, err := host.CoreV1().Secrets(o.CredentialsNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("storing the credential on the host: %w", err)
	}
	labels := map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}
	if o.HostCluster {
		labels[clustersapi.HostClusterLabel] = ""
	}
	cluster := &v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels},
		Spec: v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{
			Type:                  v1alpha1.ConnectionDirect,
			KubernetesAPIEndpoint: endpoint,
			CABundle:              ca,
			CredentialsSecretRef:  &v1alpha1.SecretReference{Namespace: o.CredentialsNamespace, Name: secret.Name},
		}},
	}
	if _, err := hostClusters.ClustersV1alpha1().Clusters().Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		// No credential without its Cluster.
		_ = host.CoreV1().Secrets(o.CredentialsNamespace).Delete(context.WithoutCancel(ctx), secret.Name, metav1.DeleteOptions{})
		return fmt.Errorf("creating Cluster %s on the host: %w", o.Name, err)
	}
	say(o.Out, "host: Cluster %s created (Direct, %s), credential in Secret %s/%s", o.Name, endpoint, o.CredentialsNamespace, secret.Name)
	if o.Wait <= 0 {
		return nil
	}
	return waitReady(ctx, hostClusters, o.Name, o.Wait, o.Out)
}

// hostClients reach the host: its Clusters and its core API.
func hostClients(cfg *rest.Config) (clientset.Interface, kubernetes.Interface, error) {
	clusters, err := clientset.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	core, err := kubernetes.NewForConfig(cfg)
	return clusters, core, err
}

func say(out io.Writer, format string, args ...any) {
	if out != nil {
		fmt.Fprintf(out, format+"\n", args...)
	}
}

// memberUID is the UID of the member's kube-system namespace: its identity.
func memberUID(ctx context.Context, member kubernetes.Interface) (string, error) {
	ns, err := member.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return "", fmt.Errorf("no rights on the member: %w", err)
	} else if err != nil {
		return "", fmt.Errorf("reading the member's kube-system namespace: %w", err)
	}
	return string(ns.UID), nil
}

// checkNew refuses a taken name and a member already joined under any name.
func checkNew(ctx context.Context, clusters clientset.Interface, name, uid string) error {
	list, err := clusters.ClustersV1alpha1().Clusters().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return fmt.Errorf("no rights on the host: %w", err)
	} else if err != nil {
		return fmt.Errorf("listing Clusters on the host: %w", err)
	}
	for _, c := range list.Items {
		// uid is "" when the member was not read (join by agent without its kubeconfig).
		if uid != "" && c.Status.UID == uid {
			return fmt.Errorf("this member is already joined as Cluster %q (kube-system UID %s)", c.Name, uid)
		}
	}
	for _, c := range list.Items {
		if c.Name == name {
			return fmt.Errorf("the name %q is taken by another Cluster (endpoint %s)", name, c.Spec.Connection.KubernetesAPIEndpoint)
		}
	}
	return nil
}

// checkNoHost refuses a second host: the host label names one cluster.
func checkNoHost(ctx context.Context, clusters clientset.Interface) error {
	list, err := clusters.ClustersV1alpha1().Clusters().List(ctx, metav1.ListOptions{LabelSelector: clustersapi.HostClusterLabel})
	if err != nil {
		return fmt.Errorf("listing Clusters on the host: %w", err)
	}
	if len(list.Items) > 0 {
		return fmt.Errorf("Cluster %q is already the host (label %s); there is one host", list.Items[0].Name, clustersapi.HostClusterLabel)
	}
	return nil
}

// EnsureMemberAccess creates (or keeps) the proxy's ServiceAccount and RBAC on the member:
// the identity the host's credential (Direct) or the agent (Agent) acts as there.
func EnsureMemberAccess(ctx context.Context, member kubernetes.Interface) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName, Namespace: MemberNamespace, Labels: map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}}}
	if _, err := member.CoreV1().ServiceAccounts(MemberNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the proxy's ServiceAccount on the member: %w", err)
	}
	return ensureRBAC(ctx, member)
}

// ServiceAccountToken creates (or keeps) the proxy's ServiceAccount, RBAC and a long-lived
// token on the member and returns the token and the member's CA.
func ServiceAccountToken(ctx context.Context, member kubernetes.Interface) (token, ca []byte, err error) {
	if err := EnsureMemberAccess(ctx, member); err != nil {
		return nil, nil, err
	}
	labels := map[string]string{clustersapi.ManagedByLabel: clustersapi.ManagedBy}
	// A long-lived token: the Cluster works until unjoin deletes this Secret, which
	// revokes the token at once.
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tokenSecretName, Namespace: MemberNamespace, Labels: labels,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ServiceAccountName}},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	if _, err := member.CoreV1().Secrets(MemberNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, nil, fmt.Errorf("creating the proxy's token Secret on the member: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := member.CoreV1().Secrets(MemberNamespace).Get(ctx, tokenSecretName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		token, ca = s.Data[corev1.ServiceAccountTokenKey], s.Data[corev1.ServiceAccountRootCAKey]
		return len(token) > 0, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("the member did not fill the token Secret %s/%s within 30s (is its kube-controller-manager running?): %w",
			MemberNamespace, tokenSecretName, err)
	}
	return token, ca, nil
}

func ensureRBAC(ctx context.Context, member kubernetes.Interface) error {
	role := ProxyClusterRole()
	if _, err := member.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		existing, err := member.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		existing.Rules = role.Rules
		if _, err := member.RbacV1().ClusterRoles().Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating ClusterRole %s on the member: %w", role.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("creating ClusterRole %s on the member: %w", role.Name, err)
	}
	binding := ProxyClusterRoleBinding(rbacSubject())
	if _, err := member.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		existing, err := member.RbacV1().ClusterRoleBindings().Get(ctx, binding.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if existing.RoleRef != binding.RoleRef {
			return fmt.Errorf("ClusterRoleBinding %s on the member binds %s, not %s: remove it first", binding.Name, existing.RoleRef.Name, ClusterRoleName)
		}
		existing.Subjects = binding.Subjects
		if _, err := member.RbacV1().ClusterRoleBindings().Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating ClusterRoleBinding %s on the member: %w", binding.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("creating ClusterRoleBinding %s on the member: %w", binding.Name, err)
	}
	return nil
}

// rbacSubject is the proxy's ServiceAccount on a member.
func rbacSubject() rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: MemberNamespace, Name: ServiceAccountName}
}

// credentialKubeconfig is the kubeconfig stored on the host: the endpoint, its CA and the
// ServiceAccount token, nothing else.
func credentialKubeconfig(name, endpoint string, ca, token []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: endpoint, CertificateAuthorityData: ca}
	cfg.AuthInfos[ServiceAccountName] = &clientcmdapi.AuthInfo{Token: string(token)}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: ServiceAccountName}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}

func waitReady(ctx context.Context, clusters clientset.Interface, name string, timeout time.Duration, out io.Writer) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		c, err := clusters.ClustersV1alpha1().Clusters().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == v1alpha1.ClusterReady {
				last = fmt.Sprintf("%s (%s: %s)", cond.Status, cond.Reason, cond.Message)
				return cond.Status == metav1.ConditionTrue, nil
			}
		}
		last = "not reported yet (is controller-manager running?)"
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("Cluster %s is not Ready after %s: Ready is %s", name, timeout, last)
	}
	say(out, "Cluster %s is Ready", name)
	return nil
}
