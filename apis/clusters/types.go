package clusters

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConnectionType says how the host reaches a member cluster.
type ConnectionType string

const (
	// ConnectionDirect: the host dials the member's API server with credentials from a Secret.
	ConnectionDirect ConnectionType = "Direct"
	// ConnectionAgent: an agent on the member dials out to the host; the host holds no credential.
	ConnectionAgent ConnectionType = "Agent"
)

// Condition types of a Cluster.
const (
	ClusterReady          = "Ready"
	ClusterAgentAvailable = "AgentAvailable"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Cluster is a member cluster registered with the host.
type Cluster struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ClusterSpec
	Status ClusterStatus
}

// ClusterSpec is the desired state of a Cluster.
type ClusterSpec struct {
	Connection Connection
	Provider   string
	Region     string
}

// Connection says how to reach the member's API server.
type Connection struct {
	Type                  ConnectionType
	KubernetesAPIEndpoint string
	CABundle              []byte
	CredentialsSecretRef  *SecretReference
}

// SecretReference names a Secret on the host.
type SecretReference struct {
	Namespace string
	Name      string
}

// ClusterStatus is the observed state of a Cluster.
type ClusterStatus struct {
	Conditions         []metav1.Condition
	KubernetesVersion  string
	NodeCount          int32
	UID                string
	Zones              []string
	LastProbeTime      *metav1.Time
	ObservedGeneration int64
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Cluster
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterProxyOptions are the options of a clusters/proxy request.
type ClusterProxyOptions struct {
	metav1.TypeMeta

	// Path is the path on the member's API server.
	Path string
}
