package localenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// PodLogFile is the file every pod of member m logs from (CRI format); appending a line
// shows up in kubectl logs -f.
func (e *Env) PodLogFile(m string) string {
	return filepath.Join(e.Dir, "data", m+"-pods.log")
}

// startMember runs a member's controller-manager, scheduler and kwok, and its fake nodes.
func (e *Env) startMember(ctx context.Context, m string) error {
	p := e.pki
	if err := e.start(m, "kube-controller-manager", "kube-controller-manager",
		"--kubeconfig="+e.componentKubeconfig(m+"-kube-controller-manager"),
		"--secure-port=0", "--leader-elect=false",
		"--service-account-private-key-file="+p.sa[m].key,
		"--root-ca-file="+p.cas[m].CertFile,
		"--use-service-account-credentials=true",
		"--controllers=*,-nodeipam,-cloud-node-lifecycle"); err != nil {
		return err
	}
	if err := e.StartScheduler(m); err != nil {
		return err
	}
	kwokConfig, err := e.writeKwokConfig(m)
	if err != nil {
		return err
	}
	kubelet := strconv.Itoa(e.Ports.Members[m] + 1)
	s := p.serving[m+"-kwok"]
	if err := e.start(m, "kwok", "kwok",
		"--kubeconfig="+e.componentKubeconfig(m+"-kwok"), "--config="+kwokConfig,
		"--manage-all-nodes=true", "--node-ip=127.0.0.1", "--node-port="+kubelet,
		"--server-address=127.0.0.1:"+kubelet,
		"--tls-cert-file="+s.cert, "--tls-private-key-file="+s.key); err != nil {
		return err
	}
	var nodes bytes.Buffer
	for i, zone := range []string{"zone-a", "zone-b"} {
		fmt.Fprintf(&nodes, `---
apiVersion: v1
kind: Node
metadata:
  name: %[1]s-node-%[2]d
  labels:
    type: kwok
    kubernetes.io/hostname: %[1]s-node-%[2]d
    topology.kubernetes.io/region: local
    topology.kubernetes.io/zone: %[3]s
`, m, i, zone)
	}
	if _, err := e.Kubectl(ctx, m, nodes.String(), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	_, err = e.Kubectl(ctx, m, "", "wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
	if err != nil {
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, e.LogFile(m+"-kwok"), e.logTail(m+"-kwok", 30))
	}
	return nil
}

// StartScheduler starts member m's kube-scheduler (stop it with Stop(m+"-kube-scheduler"):
// until it runs again, new pods stay Pending, unscheduled).
func (e *Env) StartScheduler(m string) error {
	return e.start(m, "kube-scheduler", "kube-scheduler",
		"--kubeconfig="+e.componentKubeconfig(m+"-kube-scheduler"),
		"--secure-port=0", "--leader-elect=false")
}

// writeKwokConfig writes kwok's configuration: options (a config file gets no defaults)
// and the upstream "fast" node and pod stages copied next to the binary at build time.
func (e *Env) writeKwokConfig(m string) (string, error) {
	var b bytes.Buffer
	// nodeIP here, not only as a flag: the node templates read it from the file's options.
	b.WriteString(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  nodeIP: 127.0.0.1
  enableDebuggingHandlers: true
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 4
  enablePodsOnNodeSyncListPager: true
`)
	// Exec runs commands on this machine in a scratch directory; logs come from a file
	// in CRI format (append to it to see logs -f and attach stream); port-forward talks to
	// `cat`, an echo server.
	workDir := filepath.Join(e.Dir, "data", m+"-exec")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(e.PodLogFile(m)); err != nil {
		line := time.Now().UTC().Format(time.RFC3339Nano) + " stdout F hello from " + m + "\n"
		if err := os.WriteFile(e.PodLogFile(m), []byte(line), 0o644); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(&b, `---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata: {name: local}
spec:
  execs:
  - local: {workDir: %q}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: local}
spec:
  logs:
  - logsFile: %q
    follow: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata: {name: local}
spec:
  forwards:
  - command: [cat]
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata: {name: local}
spec:
  attaches:
  - logsFile: %q
---
%s
`, workDir, e.PodLogFile(m), e.PodLogFile(m), nodeHeartbeatStage)
	stages, err := filepath.Glob(filepath.Join(e.BinDir, "kwok-stages", "*.yaml"))
	if err != nil || len(stages) == 0 {
		return "", fmt.Errorf("no kwok stages in %s: run `make tools`", filepath.Join(e.BinDir, "kwok-stages"))
	}
	for _, s := range stages {
		data, err := os.ReadFile(s)
		if err != nil {
			return "", err
		}
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	path := filepath.Join(e.Dir, "pki", m+"-kwok.yaml")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// nodeHeartbeatStage refreshes the conditions of kwok's nodes (kwok renews their Leases
// itself). Upstream's heartbeat stages re-render status.addresses from the old status and
// can leave it empty, after which the member's API server cannot reach the "kubelet"
// (exec, logs and port-forward fail with "no preferred addresses found"): this one always
// writes the node's address and port.
const nodeHeartbeatStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.phase', operator: In, values: [Running]}
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: In, values: ["True"]}
  delay: {durationMilliseconds: 20000, jitterDurationMilliseconds: 25000}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ NodeName | Quote }}, type: Hostname}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ NodePort }}
`
