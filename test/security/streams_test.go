package security

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/test/framework"
)

// readOnly may only get clusters/proxy of member1 on the host (the read-only mapping:
// get for GET and HEAD), while member1's own RBAC would let it exec: the host's gate is
// all that stands between it and a shell. The finding was that kubectl's WebSocket exec,
// a GET upgrade, passed that gate.
const readOnlyOnHost = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: security-test:read-member1}
rules:
- apiGroups: [clusters.kubesphere.io]
  resources: [clusters/proxy]
  resourceNames: [member1]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: security-test:read-member1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: security-test:read-member1}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}]
`

const readerOnMember = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: security-test:reader-edit, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}]
---
apiVersion: v1
kind: Pod
metadata: {name: shell, namespace: default}
spec:
  containers: [{name: main, image: busybox}]
`

func TestStreamsAreWrites(t *testing.T) {
	framework.Kubectl(t, env, "host", readOnlyOnHost, "apply", "-f", "-")
	framework.Kubectl(t, env, "member1", readerOnMember, "apply", "-f", "-")
	framework.Kubectl(t, env, "member1", "", "wait", "--for=condition=Ready", "pod/shell", "--timeout=60s")
	for path, server := range map[string]string{"host path": env.ViaHostURL("member1"), "direct path": env.DirectPathURL("member1")} {
		kc := framework.UserKubeconfig(t, env, server, "reader")
		// The grant works for what it is for.
		out, err := env.KubectlAs(testContext(t), kc, "", "", "get", "pod", "shell", "-o", "name")
		require.NoError(t, err, "%s: %s", path, out)
		for transport, vars := range map[string][]string{
			"websocket": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true", "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"},
			"spdy":      {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"},
		} {
			for name, args := range map[string][]string{
				"exec":         {"exec", "shell", "--", "echo", "escaped"},
				"attach":       {"attach", "shell", "-c", "main"},
				"port-forward": {"port-forward", "pod/shell", "0:8080"},
			} {
				probe(t, "streams are writes", fmt.Sprintf("%s over %s on the %s with get only", name, transport, path), func() error {
					ctx := testContext(t)
					cmd := env.KubectlCmd(ctx, kc, "", args...)
					cmd.Env = append(cmd.Environ(), vars...)
					return refusedCommand(cmd, 20*time.Second)
				})
			}
		}
	}
}

// refusedCommand runs cmd: nil when it fails with a Forbidden answer, an error when it ran (or hung on an open stream, as a port-forward or
// attach that got through would).
func refusedCommand(cmd *exec.Cmd, within time.Duration) error {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || strings.Contains(out.String(), "escaped") {
			return fmt.Errorf("it ran: %s", out.String())
		}
		if !strings.Contains(strings.ToLower(out.String()), "forbidden") {
			return fmt.Errorf("it failed, but not at the host's gate: %s", out.String())
		}
		return nil
	case <-time.After(within):
		_ = cmd.Process.Kill()
		return fmt.Errorf("the stream stayed open: %s", out.String())
	}
}
