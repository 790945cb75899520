package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/pkg/agenttoken"
	"kubesphere.io/multicluster/pkg/tunnel"
	"kubesphere.io/multicluster/test/framework"
)

// The tests here are about member2's agent connection itself; every other test of this
// package runs through it too.

// waitVersion polls member2 through the host until it answers (or not), and returns how
// long that took and the last error.
func waitVersion(t *testing.T, want bool, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		_, err = framework.TryKubectl(t, env, "member2-via-host", "", "get", "--raw", "/version", "--request-timeout=5s")
		if (err == nil) == want {
			return time.Since(start), err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("member2 through the host: want answering=%v after %s; last error: %v", want, timeout, err)
	return 0, err
}

// ended waits for a stream's stdout to close.
func ended(t *testing.T, lines <-chan string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return time.Since(start)
			}
		case <-time.After(timeout):
			t.Fatalf("the stream did not end within %s of the agent's death", timeout)
		}
	}
}

func TestAgentKilledMidStreams(t *testing.T) {
	ensureStreamPod(t, "member2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	framework.Kubectl(t, env, "member2", "", "create", "configmap", "agent-watch", "--from-literal=v=0")
	defer func() { _, _ = framework.TryKubectl(t, env, "member2", "", "delete", "configmap", "agent-watch") }()
	watch := func() <-chan string {
		lines, _ := stream(t, env.KubectlCmd(ctx, env.Kubeconfig(), "member2-via-host",
			"get", "configmap", "agent-watch", "-w", "--output-watch-events", "-o", "jsonpath={.type} {.object.data.v}{\"\\n\"}"))
		return lines
	}
	logs, logsErr := stream(t, env.KubectlCmd(ctx, env.Kubeconfig(), "member2-via-host", "logs", "-f", "stream"))
	require.Equal(t, "hello from member2", <-logs)
	events := watch()
	require.Equal(t, "ADDED 0", <-events)

	// The agent dies without a goodbye (a crash, an OOM kill).
	pid := env.Pid(localenv.AgentID("member2"))
	require.NotZero(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()
	tookLogs := ended(t, logs, 15*time.Second)
	tookWatch := ended(t, events, 15*time.Second)
	t.Logf("after SIGKILL of the agent: logs -f ended in %s, the watch in %s; kubectl said: %q", tookLogs, tookWatch, strings.TrimSpace(logsErr.String()))

	// A request now fails at once with a Status that says why.
	s, took := getStatus(t, env.ViaHostURL("member2")+"/version")
	assert.Equal(t, int32(http.StatusServiceUnavailable), s.Code)
	assert.Contains(t, s.Message, `the agent of cluster "member2" is not connected to any tower proxy`)
	assert.Less(t, took, 2*time.Second, "fails fast, does not hang")
	t.Logf("request with the agent down: %d in %s: %s", s.Code, took, s.Message)

	// The agent comes back (a restarted pod): no step on the host.
	require.NoError(t, env.StartAgent("member2"))
	back, _ := waitVersion(t, true, 30*time.Second)
	t.Logf("agent restarted: member2 answered %s later (%s after the kill)", back, time.Since(killed).Round(time.Millisecond))
	// A watch resumes with a new request and sees changes.
	events = watch()
	require.Equal(t, "ADDED 0", <-events)
	framework.Kubectl(t, env, "member2", "", "patch", "configmap", "agent-watch", "-p", `{"data":{"v":"1"}}`)
	select {
	case e := <-events:
		assert.Equal(t, "MODIFIED 1", e)
	case <-time.After(20 * time.Second):
		t.Fatal("the new watch saw no change")
	}
}

// TestTowerProxyRestart: with two replicas and the agent connected to both, restarting
// either one loses no request, and the agent is back on it without a manual step.
func TestTowerProxyRestart(t *testing.T) {
	ctx := context.Background()
	for i := range env.Ports.TowerProxies {
		t.Run(localenv.TowerProxyID(i), func(t *testing.T) {
			before := strings.Count(readLog(t, localenv.TowerProxyID(i)), `"Agent connected" cluster="member2"`)
			require.NoError(t, env.StartTowerProxy(ctx, i))
			for n := 0; n < 20; n++ {
				framework.Kubectl(t, env, "member2-via-host", "", "get", "--raw", "/version")
			}
			require.Eventually(t, func() bool {
				return strings.Count(readLog(t, localenv.TowerProxyID(i)), `"Agent connected" cluster="member2"`) > before
			}, 20*time.Second, 100*time.Millisecond, "the agent reconnected to the restarted replica")
		})
	}
}

func readLog(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(env.LogFile(id))
	require.NoError(t, err)
	return string(b)
}

// towerDo sends one raw request to the first tower proxy, as an attacker with a network
// route to it would, with an optional client certificate.
func towerDo(t *testing.T, request string, cert *tls.Certificate) (int, string) {
	t.Helper()
	ca, err := os.ReadFile(env.CAFile("host"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca))
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	u, _ := url.Parse(env.TowerProxyURLs()[0])
	conn, err := tls.Dial("tcp", u.Host, cfg)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body)
}

func agentRequest(cluster, token string) string {
	return fmt.Sprintf("GET %s%s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		tunnel.AgentPathPrefix, cluster, tunnel.UpgradeProtocol, token)
}

func TestTokensAndWhoMayDial(t *testing.T) {
	member2Token := framework.AgentToken(t, env, "member2")
	// Another Agent cluster with a token of its own.
	otherToken, err := agenttoken.New()
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: %s, labels: {%s: "true"}}
stringData: {%s: %s}
`, agenttoken.SecretName("member9"), localenv.Namespace, clustersapi.AgentTokenLabel, agenttoken.HashKey, agenttoken.Hash(otherToken)), "apply", "-f", "-")
	defer func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "secret", "-n", localenv.Namespace, agenttoken.SecretName("member9"))
	}()

	for name, c := range map[string]struct{ cluster, token string }{
		"member2's token as member9":          {"member9", member2Token},
		"member9's token as member2":          {"member2", otherToken},
		"member2's token as member1 (Direct)": {"member1", member2Token},
		"a made-up token as member2":          {"member2", strings.Repeat("A", 43)},
	} {
		code, body := towerDo(t, agentRequest(c.cluster, c.token), nil)
		assert.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
		assert.Contains(t, body, "is not valid for cluster", name)
	}

	// Only host components may open streams: not an agent, not a host user.
	connect := "CONNECT member2:443 HTTP/1.1\r\nHost: member2:443\r\n\r\n"
	code, body := towerDo(t, connect, nil)
	assert.Equal(t, http.StatusUnauthorized, code, body)
	code, body = towerDo(t, strings.Replace(connect, "\r\n\r\n", "\r\nAuthorization: Bearer "+member2Token+"\r\n\r\n", 1), nil)
	assert.Equal(t, http.StatusUnauthorized, code, "a join token is no dialer's credential: %s", body)
	kc, err := env.IssueClientCert("host", "developer", "developers")
	require.NoError(t, err)
	cert := framework.ClientCertificate(t, kc)
	code, body = towerDo(t, connect, &cert)
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Contains(t, body, `user \"developer\" may not open streams`)
}

// TestRotatingTheTokenClosesTheTunnel: a new hash on the host cuts the agent off at once;
// the agent given the new token comes back by itself.
func TestRotatingTheTokenClosesTheTunnel(t *testing.T) {
	newToken, err := agenttoken.New()
	require.NoError(t, err)
	patch := func(hash string) {
		framework.Kubectl(t, env, "host", "", "patch", "secret", "-n", localenv.Namespace, agenttoken.SecretName("member2"), "--type=merge",
			"-p", fmt.Sprintf(`{"stringData":{%q:%q}}`, agenttoken.HashKey, hash))
	}
	waitVersion(t, true, 10*time.Second)
	rotated := time.Now()
	patch(agenttoken.Hash(newToken))
	cut, _ := waitVersion(t, false, 10*time.Second)
	t.Logf("token rotated on the host: member2 unreachable %s later", cut)
	require.Eventually(t, func() bool {
		status, reason, _ := framework.Condition(t, env, "member2", "AgentAvailable")
		return status == "False" && reason == "AgentDisconnected"
	}, 40*time.Second, 250*time.Millisecond)
	t.Logf("AgentAvailable=False %s after the rotation", time.Since(rotated).Round(time.Millisecond))

	// The member gets the new token (its Secret updated): the agent reads it at its next attempt.
	require.NoError(t, os.WriteFile(env.AgentTokenFile("member2"), []byte(newToken+"\n"), 0o600))
	back, _ := waitVersion(t, true, 30*time.Second)
	t.Logf("new token in place: member2 answered %s later", back)
	require.Eventually(t, func() bool {
		status, reason, _ := framework.Condition(t, env, "member2", "AgentAvailable")
		return status == "True" && reason == "AgentConnected"
	}, 40*time.Second, 250*time.Millisecond)
}

// TestAgentIdentitySeesOnlyItself: member2's join token, used against cluster-apiserver,
// is an identity that sees its own Cluster, and nothing else; it writes nothing (the
// attack suite in test/security tries every write).
func TestAgentIdentitySeesOnlyItself(t *testing.T) {
	ctx := context.Background()
	kc := framework.TokenKubeconfig(t, env.ClusterAPIServerURL(), env.CAFile("host"), framework.AgentToken(t, env, "member2"))
	agent := func(args ...string) (string, error) { return env.KubectlAs(ctx, kc, "", "", args...) }

	out, err := agent("get", "clusters", "-o", "name")
	require.NoError(t, err)
	assert.Equal(t, "cluster.clusters.kubesphere.io/member2", strings.TrimSpace(out), "the list holds its own cluster only")
	out, err = agent("get", "clusters", "--field-selector=metadata.name=member1", "-o", "name")
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(out), "asking for another cluster by field finds nothing")
	_, err = agent("get", "cluster", "member1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `may only get, list and watch its own Cluster`)

	_, err = agent("label", "cluster", "member2", "agent-was-here=yes")
	require.Error(t, err, "it may not change even its own Cluster")
	_, err = agent("label", "cluster", "member1", "agent-was-here=yes")
	require.Error(t, err)
	_, err = agent("delete", "cluster", "member2", "--dry-run=server")
	require.Error(t, err, "it may not delete even its own")

	for _, m := range members {
		_, err = agent("get", "--raw", "/clusters/"+m+"/version")
		require.Error(t, err, "no cluster's proxy, not even its own")
		assert.Contains(t, err.Error(), "Forbidden")
	}
}
