package localenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/pkg/agenttoken"
)

// TowerProxyURLs are the tower proxy replicas' URLs.
func (e *Env) TowerProxyURLs() []string {
	var out []string
	for _, p := range e.Ports.TowerProxies {
		out = append(out, "https://127.0.0.1:"+strconv.Itoa(p))
	}
	return out
}

// towerDialerArgs point a host component (cluster-apiserver, controller-manager) at the
// tower proxies; it authenticates with the client certificate of its host kubeconfig.
func (e *Env) towerDialerArgs() []string {
	return []string{"--tower-proxy-servers=" + strings.Join(e.TowerProxyURLs(), ","),
		"--tower-proxy-ca-file=" + e.pki.cas["host"].CertFile}
}

// startTowerProxies starts every tower proxy replica (ids host-tower-proxy-<n>) and waits
// until each answers.
func (e *Env) startTowerProxies(ctx context.Context) error {
	for i := range e.Ports.TowerProxies {
		if err := e.StartTowerProxy(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// TowerProxyID is the process id of tower proxy replica i (from 0).
func TowerProxyID(i int) string { return fmt.Sprintf("host-tower-proxy-%d", i+1) }

// StartTowerProxy starts (or restarts) tower proxy replica i and waits until it answers.
func (e *Env) StartTowerProxy(ctx context.Context, i int) error {
	id := TowerProxyID(i)
	if err := e.Stop(id); err != nil {
		return err
	}
	s := e.pki.serving["host-tower-proxy"]
	port := e.Ports.TowerProxies[i]
	if err := e.startWithEnv(installedGOMAXPROCS(), "host", strings.TrimPrefix(id, "host-"), "tower", "proxy",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+s.cert, "--tls-private-key-file="+s.key,
		"--client-ca-file="+e.pki.cas["host"].CertFile,
		"--kubeconfig="+e.componentKubeconfig("host-tower-proxy"), "--namespace="+Namespace); err != nil {
		return err
	}
	return e.waitReady(ctx, id, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz", 30*time.Second)
}

// AgentID is the process id of member m's tower agent; its pid file is <id>.pid.
func AgentID(m string) string { return m + "-tower-agent" }

// AgentTokenFile holds member m's join token, as the agent's Secret would on a member.
func (e *Env) AgentTokenFile(m string) string { return filepath.Join(e.Dir, "pki", m+"-agent-token") }

// agentCluster is m's Cluster; its token Secret comes from agenttoken.NewSecret, as join
// makes it.
var agentCluster = template.Must(template.New("agent").Parse(`
apiVersion: clusters.kubesphere.io/v1alpha1
kind: Cluster
metadata:
  name: {{.Name}}
spec:
  provider: local
  region: local
  connection:
    type: Agent
`))

// registerAgentMember registers m as an Agent Cluster with a join token, and starts its
// tower agent, which reaches m's API server with the same least-privilege user the
// Direct members' Secrets hold. A token from an earlier run is kept.
func (e *Env) registerAgentMember(ctx context.Context, m string) error {
	setup, err := memberSetup(ClusterProxyUser)
	if err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, m, setup, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	token, err := e.agentToken(m)
	if err != nil {
		return err
	}
	// A Direct Cluster of this name from an older environment cannot change type in place.
	// controller-manager (which would release its finalizer) does not run yet.
	if typ, _ := e.Kubectl(ctx, "host", "", "get", "cluster", m, "--ignore-not-found", "-o", "jsonpath={.spec.connection.type}"); typ != "" && typ != "Agent" {
		if _, err := e.Kubectl(ctx, "host", "", "patch", "cluster", m, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, "host", "", "delete", "cluster", m, "--ignore-not-found", "--wait=true", "--timeout=30s"); err != nil {
			return err
		}
	}
	secret := agenttoken.NewSecret(Namespace, m, token)
	secret.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
	secretYAML, err := yaml.Marshal(secret)
	if err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, "host", string(secretYAML)+"---\n"+render(agentCluster, map[string]any{"Name": m}),
		"apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	if err := e.StartAgent(m); err != nil {
		return err
	}
	e.logf("registered %s as an Agent cluster (tower agent pid file %s)", m, e.pidFile(AgentID(m)))
	return nil
}

// agentToken reads m's token from an earlier run, or makes one.
func (e *Env) agentToken(m string) (string, error) {
	file := e.AgentTokenFile(m)
	if b, err := os.ReadFile(file); err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) == 43 {
			return tok, nil
		}
	}
	tok, err := agenttoken.New()
	if err != nil {
		return "", err
	}
	return tok, os.WriteFile(file, []byte(tok+"\n"), 0o600)
}

// StartAgent starts (or restarts) member m's tower agent. It does not wait: the agent
// keeps retrying until a tower proxy takes its tunnel, and the Cluster's Ready shows it.
func (e *Env) StartAgent(m string) error {
	return e.StartAgentWith(m, e.componentKubeconfig(m+"-cluster-proxy"), e.AgentTokenFile(m))
}

// StartAgentWith starts member m's tower agent with another member credential and token
// file: what the Deployment join prints would run with (its ServiceAccount, its Secret).
func (e *Env) StartAgentWith(m, kubeconfig, tokenFile string) error {
	if err := e.Stop(AgentID(m)); err != nil {
		return err
	}
	return e.startWithEnv(installedGOMAXPROCS(), m, "tower-agent", "tower", "agent",
		"--cluster-name="+m, "--tower-proxy-servers="+strings.Join(e.TowerProxyURLs(), ","),
		"--tower-proxy-ca-file="+e.pki.cas["host"].CertFile, "--token-file="+tokenFile,
		"--kubeconfig="+kubeconfig, "--reconnect-backoff-initial=200ms", "--reconnect-backoff-max=5s")
}
