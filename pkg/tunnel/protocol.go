package tunnel

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The wire contract between the roles. An agent opens its tunnel with
//
//	GET /tunnels/<cluster> (Upgrade: UpgradeProtocol, Authorization: Bearer <join token>)
//
// and the tower proxy answers 101 before both sides start yamux. A dialer opens a stream with
//
//	CONNECT <cluster>:443 (its host credential: client certificate or bearer token)
//
// and the tower proxy answers 200 with TunnelIDHeader, then splices the connection to a new
// stream. Every refusal is a Kubernetes Status; a 503 to CONNECT means "no tunnel of that
// cluster here", so the dialer tries the next replica.
const (
	// AgentPathPrefix is where an agent opens its tunnel: GET /tunnels/<cluster> with
	// Upgrade: UpgradeProtocol and the join token as a bearer token.
	AgentPathPrefix = "/tunnels/"
	// UpgradeProtocol names the tunnel protocol in the Upgrade header.
	UpgradeProtocol = "kubesphere-tunnel-yamux"
	// TunnelIDHeader names, in a tower proxy's answer to CONNECT, the agent tunnel the stream
	// runs on: random per tunnel, new when an agent reconnects.
	TunnelIDHeader = "Tunnel-Id"
)

// agentRequest is the agent's request to open its tunnel on the tower proxy at host.
func agentRequest(cluster, host, token string) string {
	return fmt.Sprintf("GET %s%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\nAuthorization: Bearer %s\r\nUser-Agent: tower-agent\r\n\r\n",
		AgentPathPrefix, cluster, host, UpgradeProtocol, token)
}

// agentAccepted is the tower proxy's answer to an agent whose token it accepted.
func agentAccepted() string {
	return fmt.Sprintf("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", UpgradeProtocol)
}

// connectRequest is a dialer's request for a stream to cluster; authz is its
// "Authorization: ...\r\n" line, or "" when a client certificate says who it is.
func connectRequest(cluster, authz string) string {
	return fmt.Sprintf("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n%s\r\n", cluster, cluster, authz)
}

// connectEstablished is the tower proxy's answer to CONNECT once it opened a stream on the
// tunnel tunnelID.
func connectEstablished(tunnelID string) string {
	return fmt.Sprintf("HTTP/1.1 200 Connection established\r\n%s: %s\r\n\r\n", TunnelIDHeader, tunnelID)
}

// ErrAgentNotConnected is returned when no tower proxy has a tunnel from the cluster's
// agent: the agent is not running, cannot reach the host, or its token was refused.
type ErrAgentNotConnected struct{ Cluster string }

func (e ErrAgentNotConnected) Error() string {
	return fmt.Sprintf("the agent of cluster %q is not connected to any tower proxy", e.Cluster)
}

// writeStatus answers with a Kubernetes Status, as every component of this project does.
func writeStatus(w http.ResponseWriter, err error) {
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		status = apierrors.NewInternalError(err)
	}
	st := status.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

// statusError reads the Status a tower proxy answered with (to an agent or a dialer).
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return fmt.Errorf("tower proxy answered %d: %s", resp.StatusCode, st.Message)
	}
	return fmt.Errorf("tower proxy answered %s", resp.Status)
}
