package federation

// The names below are contracts between cluster-apiserver, the federation controller and
// what is written on members: each is defined here once.

// OwnerLabel on a member object names the UID of the federated object that made it: it is
// how an object is known to be ours.
const OwnerLabel = GroupName + "/owner-uid"

// CleanupFinalizer holds a deleted federated object until its member objects are deleted
// (or orphaned) on every cluster.
const CleanupFinalizer = GroupName + "/cleanup"

// FieldManagerPrefix, followed by the federated object's UID, is the server-side-apply
// manager of what it writes on members: one manager per federated object.
const FieldManagerPrefix = "kubesphere-federation/"

// Reasons of a cluster's row.
const (
	ReasonClusterNotReady    = "ClusterNotReady"
	ReasonClusterNotFound    = "ClusterNotFound"
	ReasonForbidden          = "Forbidden"
	ReasonConflict           = "Conflict"
	ReasonOverrideFailed     = "OverrideFailed"
	ReasonKindNotServed      = "KindNotServed"
	ReasonInvalid            = "Invalid"
	ReasonUnreachable        = "Unreachable"
	ReasonNamespaceNotPlaced = "NamespaceNotPlaced"
	ReasonApplied            = "Applied"
)
