package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusters "kubesphere.io/multicluster/apis/clusters"
)

// ConnectionType says how the host reaches a member cluster.
// +enum
type ConnectionType string

const (
	// ConnectionDirect: the host dials the member's API server with credentials from a Secret.
	ConnectionDirect ConnectionType = "Direct"
	// ConnectionAgent: an agent on the member dials out to the host; the host holds no credential.
	ConnectionAgent ConnectionType = "Agent"
)

// Condition types of a Cluster.
const (
	// ClusterReady is True when the member's API server answers its health check.
	ClusterReady = "Ready"
	// ClusterAgentAvailable is True while an Agent cluster's tunnel is connected.
	ClusterAgentAvailable = "AgentAvailable"
	// ClusterCredentialsExpiring is True while the client certificate in a Direct
	// cluster's credentials Secret expires within seven days (or has expired).
	ClusterCredentialsExpiring = "CredentialsExpiring"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Cluster is a member cluster registered with the host. Its name is the cluster's name in
// every path and permission (clusters/proxy with resourceName <name>). It never holds a
// credential, so anyone allowed to read clusters may see the whole object.
type Cluster struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The name must be a DNS-1123 label.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says how to reach the cluster and where it runs.
	// +optional
	Spec ClusterSpec `json:"spec,omitempty"`
	// Status is the cluster's observed state, written by the controller-manager through the
	// status subresource. Writes of status through the main resource are ignored.
	// +optional
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterSpec says how to reach a member cluster and where it runs.
type ClusterSpec struct {
	// Connection says how the host reaches the member's API server.
	Connection Connection `json:"connection"`
	// Provider is free text naming where the cluster runs, for example "aws" or "on-prem".
	// +optional
	Provider string `json:"provider,omitempty"`
	// Region is free text naming the cluster's region, for example "eu-west-1".
	// +optional
	Region string `json:"region,omitempty"`
}

// Connection holds the address, trust and credentials reference of a member's API server.
type Connection struct {
	// Type is Direct (the host dials the member with the credentials in
	// credentialsSecretRef) or Agent (an agent on the member dials out to the host; the host
	// holds no credential). Defaults to Direct.
	// +optional
	Type ConnectionType `json:"type,omitempty"`
	// KubernetesAPIEndpoint is the https URL of the member's API server, for example
	// https://10.0.0.1:6443. Required for Direct; for Agent it is what the agent reports.
	// It must not carry user information, a query or a fragment.
	// +optional
	KubernetesAPIEndpoint string `json:"kubernetesAPIEndpoint,omitempty"`
	// CABundle is the PEM-encoded CA bundle that signs the member API server's serving
	// certificate. Empty means the host's system roots (or the CA in the credentials'
	// kubeconfig).
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
	// CredentialsSecretRef names a Secret on the host that holds the member's credentials:
	// a "kubeconfig" key, or a "token" key, or "tls.crt" and "tls.key" keys. Required for
	// Direct, forbidden for Agent.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`
}

// SecretReference names a Secret on the host cluster.
type SecretReference struct {
	// Namespace of the Secret.
	Namespace string `json:"namespace"`
	// Name of the Secret.
	Name string `json:"name"`
}

// ClusterStatus is the observed state of a member cluster.
type ClusterStatus struct {
	// Conditions: Ready (the API server answers its health check) and, for Agent clusters,
	// AgentAvailable (the agent's tunnel is connected).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// KubernetesVersion is the member API server's version, for example v1.36.3.
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// NodeCount is the number of nodes of the member cluster.
	// +optional
	NodeCount int32 `json:"nodeCount,omitempty"`
	// UID is the UID of the member's kube-system namespace: the cluster's identity. Once
	// set, credentials that lead to another cluster are refused.
	// +optional
	UID string `json:"uid,omitempty"`
	// Zones are the topology zones of the member's nodes.
	// +optional
	// +listType=atomic
	Zones []string `json:"zones,omitempty"`
	// LastProbeTime is when the member was last probed.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`
	// ObservedGeneration is the metadata.generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of Clusters.
	Items []Cluster `json:"items"`
}

// +k8s:conversion-gen:explicit-from=net/url.Values
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterProxyOptions are the options of a clusters/proxy request: the rest of the URL
// after /proxy is the path on the member's API server.
type ClusterProxyOptions struct {
	metav1.TypeMeta `json:",inline"`

	// Path is the path on the member's API server, for example /api/v1/namespaces.
	// +optional
	Path string `json:"path,omitempty"`
}

// HostClusterLabel marks the Cluster object that stands for the host cluster itself.
//
// Deprecated: use HostClusterLabel of package kubesphere.io/multicluster/apis/clusters,
// where every well-known name is defined.
const HostClusterLabel = clusters.HostClusterLabel
