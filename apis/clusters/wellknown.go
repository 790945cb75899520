package clusters

// The names below are contracts between components that run apart (cluster-apiserver,
// controller-manager, tower, kubectl-ksmc) and with what users write: each is defined here
// once, next to the types it qualifies.

// DefaultNamespace is the host namespace of the control plane and of the Secrets it reads
// (members' credentials, agents' token hashes), unless a component is told otherwise.
const DefaultNamespace = "kubesphere-system"

// Labels.
const (
	// HostClusterLabel marks the Cluster object that stands for the host cluster itself.
	HostClusterLabel = "cluster-role.kubesphere.io/host"
	// ClusterLabel names the Cluster a host Secret belongs to.
	ClusterLabel = "clusters.kubesphere.io/cluster"
	// AgentTokenLabel marks the Secrets that hold an agent's join-token hash, so that
	// the tower proxy watches those and no other Secret.
	AgentTokenLabel = "clusters.kubesphere.io/agent-token"
	// ManagedByLabel marks what kubectl-ksmc join created, so that unjoin and the cleanup
	// controller remove only that.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "kubectl-ksmc"
)

// CleanupFinalizer holds a deleted Cluster until its host-side objects are gone.
const CleanupFinalizer = GroupName + "/cleanup"

// Agent identities: who a join token authenticates as on the host.
const (
	// AgentUserPrefix starts the user name of an agent: system:kubesphere:agent:<cluster>.
	AgentUserPrefix = "system:kubesphere:agent:"
	// AgentsGroup holds every agent identity.
	AgentsGroup = "system:kubesphere:agents"
)

// The control plane's own identities on the host, after the ServiceAccounts that
// artifacts/ binds.
const (
	// ControllerManagerNamespace holds controller-manager and its leader-election Lease.
	ControllerManagerNamespace = "kube-federation-system"
	// ClusterAPIServerUser is cluster-apiserver's user.
	ClusterAPIServerUser = "system:serviceaccount:" + DefaultNamespace + ":cluster-apiserver"
	// ControllerManagerUser is controller-manager's user.
	ControllerManagerUser = "system:serviceaccount:" + ControllerManagerNamespace + ":controller-manager"
	// TowerProxyUser is the tower proxies' user.
	TowerProxyUser = "system:serviceaccount:" + DefaultNamespace + ":tower-proxy"
)
