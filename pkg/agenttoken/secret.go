package agenttoken

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
)

const (
	// secretSuffix names a cluster's token Secret: <cluster>-agent-token.
	secretSuffix = "-agent-token"
	// HashKey is the key of the token's hash in a token Secret.
	HashKey = "sha256"
	// LabelSelector selects the token Secrets for an informer: those that carry
	// clustersapi.AgentTokenLabel, whatever its value.
	LabelSelector = clustersapi.AgentTokenLabel
)

// SecretName is the name of cluster's token Secret.
func SecretName(cluster string) string { return cluster + secretSuffix }

// ClusterOf is the cluster a token Secret's name belongs to, or "" for another name
// (including a name whose cluster part is not a DNS-1123 label: no Cluster can have it).
func ClusterOf(secretName string) string {
	cluster, ok := strings.CutSuffix(secretName, secretSuffix)
	if !ok || len(validation.IsDNS1123Label(cluster)) > 0 {
		return "" // no Cluster can have that name
	}
	return cluster
}

// NewSecret is the token Secret join stores on the host for cluster's token: only the
// token's hash, labelled as join's, as cluster's, and as a token Secret.
func NewSecret(namespace, cluster, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: SecretName(cluster), Namespace: namespace,
			Labels: map[string]string{
				clustersapi.ManagedByLabel:  clustersapi.ManagedBy,
				clustersapi.ClusterLabel:    cluster,
				clustersapi.AgentTokenLabel: "true",
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{HashKey: []byte(Hash(token))},
	}
}

// labelled reports whether s carries the token-Secret label, with any value: what
// LabelSelector selects.
func labelled(s *corev1.Secret) bool {
	_, ok := s.Labels[clustersapi.AgentTokenLabel]
	return ok
}

// HashOf is the cluster and stored token hash of a token Secret. ok is false unless s
// carries the label LabelSelector selects, is named for a cluster, and holds a hash:
// every reader (the tower proxy, cluster-apiserver's agent authenticator) accepts a
// Secret on exactly these terms.
func HashOf(s *corev1.Secret) (cluster, hash string, ok bool) {
	if s == nil || !labelled(s) {
		return "", "", false
	}
	cluster, hash = ClusterOf(s.Name), string(s.Data[HashKey])
	if cluster == "" || hash == "" {
		return "", "", false
	}
	return cluster, hash, true
}

// Revoke deletes cluster's join token (its hash) from the host: every tower proxy closes
// the cluster's tunnels as soon as it sees the deletion. Only a labelled token Secret is
// deleted, and only the one that was read (a UID precondition). Deleting what is already
// gone succeeds; deleted says whether there was a token.
func Revoke(ctx context.Context, host kubernetes.Interface, namespace, cluster string) (deleted bool, err error) {
	name := SecretName(cluster)
	s, err := host.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading the token Secret %s/%s: %w", namespace, name, err)
	}
	if !labelled(s) {
		return false, nil
	}
	err = host.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("deleting the token Secret %s/%s: %w", namespace, name, err)
	}
	return true, nil
}
