package join

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/agenttoken"
)

// Unjoin removes the Cluster and the credential join stored on the host and, when
// o.Member is set, the ServiceAccount, token and RBAC join created on the member
// (deleting the token Secret revokes the token at once). What is already gone is
// skipped, so Unjoin may be run again.
func Unjoin(ctx context.Context, o Options) error {
	if o.Host == nil {
		return fmt.Errorf("the host's connection is required")
	}
	hostClusters, host, err := hostClients(o.Host)
	if err != nil {
		return err
	}
	secretNS, secretName := o.CredentialsNamespace, o.Name+"-credentials"
	cluster, err := hostClusters.ClustersV1alpha1().Clusters().Get(ctx, o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		say(o.Out, "host: Cluster %s is already gone", o.Name)
	case err != nil:
		return fmt.Errorf("reading Cluster %s on the host: %w", o.Name, err)
	default:
		if ref := cluster.Spec.Connection.CredentialsSecretRef; ref != nil {
			secretNS, secretName = ref.Namespace, ref.Name
		}
		if err := hostClusters.ClustersV1alpha1().Clusters().Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Cluster %s on the host: %w", o.Name, err)
		}
		say(o.Out, "host: Cluster %s deleted", o.Name)
	}
	// Only a Secret join made for this cluster: a credential the user created stays.
	secret, err := host.CoreV1().Secrets(secretNS).Get(ctx, secretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading Secret %s/%s on the host: %w", secretNS, secretName, err)
	case secret.Labels[clustersapi.ManagedByLabel] != clustersapi.ManagedBy || secret.Labels[clustersapi.ClusterLabel] != o.Name:
		say(o.Out, "host: Secret %s/%s was not created by join; left in place", secretNS, secretName)
	default:
		if err := host.CoreV1().Secrets(secretNS).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Secret %s/%s on the host: %w", secretNS, secretName, err)
		}
		say(o.Out, "host: Secret %s/%s deleted", secretNS, secretName)
	}

	if revoked, err := agenttoken.Revoke(ctx, host, o.CredentialsNamespace, o.Name); err != nil {
		return err
	} else if revoked {
		say(o.Out, "host: agent token of %s revoked; its tunnels close now", o.Name)
	}

	if o.Member == nil {
		say(o.Out, "member: untouched (give its kubeconfig to remove ServiceAccount %s/%s and ClusterRole %s)", MemberNamespace, ServiceAccountName, ClusterRoleName)
		return nil
	}
	member, err := kubernetes.NewForConfig(o.Member)
	if err != nil {
		return err
	}
	for what, del := range map[string]func() error{
		"Deployment " + MemberNamespace + "/" + AgentName: func() error {
			return member.AppsV1().Deployments(MemberNamespace).Delete(ctx, AgentName, metav1.DeleteOptions{})
		},
		"Secret " + MemberNamespace + "/" + AgentName: func() error {
			return member.CoreV1().Secrets(MemberNamespace).Delete(ctx, AgentName, metav1.DeleteOptions{})
		},
		"Secret " + MemberNamespace + "/" + tokenSecretName: func() error {
			return member.CoreV1().Secrets(MemberNamespace).Delete(ctx, tokenSecretName, metav1.DeleteOptions{})
		},
		"ServiceAccount " + MemberNamespace + "/" + ServiceAccountName: func() error {
			return member.CoreV1().ServiceAccounts(MemberNamespace).Delete(ctx, ServiceAccountName, metav1.DeleteOptions{})
		},
		"ClusterRoleBinding " + ClusterRoleName: func() error {
			return member.RbacV1().ClusterRoleBindings().Delete(ctx, ClusterRoleName, metav1.DeleteOptions{})
		},
		"ClusterRole " + ClusterRoleName: func() error {
			return member.RbacV1().ClusterRoles().Delete(ctx, ClusterRoleName, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s on the member: %w", what, err)
		}
	}
	say(o.Out, "member: ServiceAccount, token and RBAC of the proxy deleted")
	return nil
}
