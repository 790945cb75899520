package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"kubesphere.io/multicluster/internal/faultnet"
	"kubesphere.io/multicluster/test/framework"
)

// streamPods are a pod on a kwok node of each member: kwok runs its exec commands on this
// machine, serves its logs from env.PodLogFile and answers port-forwards with `cat`.
var streamPods sync.Map // member -> *streamPod

type streamPod struct {
	once sync.Once
	err  error
}

func ensureStreamPod(t *testing.T, member string) {
	t.Helper()
	v, _ := streamPods.LoadOrStore(member, &streamPod{})
	p := v.(*streamPod)
	p.once.Do(func() {
		const pod = `apiVersion: v1
kind: Pod
metadata: {name: stream, namespace: default}
spec:
  containers: [{name: main, image: busybox}]
`
		if _, p.err = framework.TryKubectl(t, env, member, pod, "apply", "-f", "-"); p.err != nil {
			return
		}
		_, p.err = framework.TryKubectl(t, env, member, "", "wait", "--for=condition=Ready", "pod/stream", "--timeout=60s")
	})
	require.NoError(t, p.err)
}

// transports are the two upgrade protocols kubectl speaks: WebSocket (its default since
// 1.31) and SPDY.
var transports = map[string][]string{
	"websocket": {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true", "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"},
	"spdy":      {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"},
}

// eachStreamingRoute runs f for both paths to both members and both upgrade protocols.
func eachStreamingRoute(t *testing.T, f func(t *testing.T, member string, cmd func(ctx context.Context, args ...string) *exec.Cmd)) {
	for _, r := range routes() {
		ensureStreamPod(t, r.member)
		flags := r.flags
		for proto, environ := range transports {
			t.Run(r.name()+"/"+proto, func(t *testing.T) {
				f(t, r.member, func(ctx context.Context, args ...string) *exec.Cmd {
					c := env.KubectlCmd(ctx, env.Kubeconfig(), "", append(append([]string{}, flags...), args...)...)
					c.Env = append(os.Environ(), environ...)
					return c
				})
			})
		}
	}
}

func TestExec(t *testing.T) {
	eachStreamingRoute(t, func(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		// Non-interactive: stdout and stderr come back apart and a failing command fails
		// kubectl (kwok reports the exit status in an error, not as the code); the command's
		// arguments travel in the query string, which must survive the upgrade.
		c := kubectl(ctx, "exec", "stream", "--", "sh", "-c", "echo out && echo err >&2 && exit 3")
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		require.Error(t, c.Run())
		assert.Equal(t, "out\n", stdout.String())
		assert.Contains(t, stderr.String(), "err\n")
		assert.Contains(t, stderr.String(), "exit status 3")

		// Interactive: each line typed is answered before the next is sent. (kwok does not
		// pass end-of-input on to the command, so the session ends by kill.)
		c = kubectl(ctx, "exec", "-i", "stream", "--", "cat")
		stdin, err := c.StdinPipe()
		require.NoError(t, err)
		lines, catErr := stream(t, c)
		for _, word := range []string{"ping", "pong", "done"} {
			_, err := io.WriteString(stdin, word+"\n")
			require.NoError(t, err)
			got, ok := <-lines
			require.True(t, ok, "stderr: %s", catErr.String())
			assert.Equal(t, word, got)
		}

		// With a terminal (script gives kubectl one): the command runs on a TTY. kwok can
		// drop a TTY's output when the command exits at once (seen straight to the member
		// too, 4 in 20), so the command lingers a moment after printing.
		tty := exec.CommandContext(ctx, "script", "-qc", shellQuote(kubectl(ctx, "exec", "-it", "stream", "--", "sh", "-c", "tty && echo tty-ok && sleep 0.5").Args), "/dev/null")
		tty.Env = kubectl(ctx).Env
		ttyOut, err := tty.CombinedOutput()
		require.NoError(t, err, "%s", ttyOut)
		assert.Regexp(t, `/dev/pts/\d+`, string(ttyOut))
	})
}

// shellQuote joins args into one sh command line.
func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

func TestLogsFollow(t *testing.T) {
	eachStreamingRoute(t, func(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd) {
		followed(t, member, kubectl, "logs", "-f", "stream")
	})
}

// TestAttach: attach is an upgrade like exec; kwok attaches to the pod's log file.
func TestAttach(t *testing.T) {
	eachStreamingRoute(t, func(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd) {
		followed(t, member, kubectl, "attach", "stream")
	})
}

// followed runs a kubectl command that streams the pod's output and checks that a line
// written to the pod's log after the stream opened arrives while it stays open: no
// buffering anywhere on the way.
func followed(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd, args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen, stderr := stream(t, kubectl(ctx, args...))
	if args[0] == "logs" {
		assert.Equal(t, "hello from "+member, <-seen, "the log from its start")
	} else {
		time.Sleep(2 * time.Second) // attach shows only what comes after it joined
	}
	marker := "followed " + t.Name() + " " + time.Now().Format(time.RFC3339Nano)
	appendLog(t, member, marker)
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-seen:
			require.True(t, ok, "the stream ended; stderr: %s", stderr.String())
			if l == marker {
				return
			}
		case <-timeout:
			t.Fatalf("the appended line did not arrive; stderr: %s", stderr.String())
		}
	}
}

// stream starts c and returns its stdout lines as they come (the channel closes when it
// ends) and its stderr, for messages. The process is killed when the test ends.
func stream(t *testing.T, c *exec.Cmd) (<-chan string, *bytes.Buffer) {
	t.Helper()
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	stderr := &bytes.Buffer{}
	c.Stderr = stderr
	require.NoError(t, c.Start())
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return lines, stderr
}

var logMu sync.Mutex

func appendLog(t *testing.T, member, text string) {
	t.Helper()
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(env.PodLogFile(member), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + text + "\n")
	require.NoError(t, err)
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)

func TestPortForward(t *testing.T) {
	eachStreamingRoute(t, func(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		lines, stderr := stream(t, kubectl(ctx, "port-forward", "--address=127.0.0.1", "pod/stream", ":8080"))
		var port string
		for l := range lines {
			if m := forwarding.FindStringSubmatch(l); m != nil {
				port = m[1]
				break
			}
		}
		require.NotEmpty(t, port, "no forwarding line; stderr: %s", stderr.String())

		// Two connections in turn, each an echo of what it sent (kwok answers with cat).
		for i := 0; i < 2; i++ {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
			require.NoError(t, err)
			require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
			payload := bytes.Repeat([]byte("forwarded "), 10_000)
			go func() { _, _ = conn.Write(payload) }()
			echo := make([]byte, len(payload))
			_, err = io.ReadFull(conn, echo)
			require.NoError(t, err, "stderr: %s", stderr.String())
			assert.True(t, bytes.Equal(payload, echo), "the echo matches what was sent")
			conn.Close()
		}
	})
}

// TestCopy moves 8 MiB each way. kwok never passes end-of-input to a command, so the tar
// behind an upload by kubectl cp would wait forever (straight to the member too): the
// upload goes through exec -i with a byte count instead; the download is kubectl cp.
func TestCopy(t *testing.T) {
	eachStreamingRoute(t, func(t *testing.T, member string, kubectl func(ctx context.Context, args ...string) *exec.Cmd) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// kwok runs the pod's commands on this machine, so the pod's "/dir" is a local one.
		local, podDir := t.TempDir(), t.TempDir()
		data := make([]byte, 8<<20)
		_, _ = rand.Read(data)

		up := kubectl(ctx, "exec", "-i", "stream", "--", "sh", "-c", fmt.Sprintf("head -c %d > %s/big.bin", len(data), podDir))
		up.Stdin = bytes.NewReader(data)
		out, err := up.CombinedOutput()
		require.NoError(t, err, "%s", out)
		inPod, err := os.ReadFile(filepath.Join(podDir, "big.bin"))
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(inPod), "8 MiB uploaded intact")

		back := filepath.Join(local, "back.bin")
		down := kubectl(ctx, "cp", "default/stream:"+podDir+"/big.bin", back)
		out, err = down.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got, err := os.ReadFile(back)
		require.NoError(t, err)
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "8 MiB downloaded intact by kubectl cp")
	})
}

// TestLongWatch: a watch through the proxy outlives every request timeout the servers
// have (the generic 60 s among them) and still delivers.
func TestLongWatch(t *testing.T) {
	t.Parallel()
	const hold = 130 * time.Second
	for _, r := range routes() {
		path, flags, member := r.path, r.flags, r.member
		// One object per route: a change made through one route must not reach another's watch.
		cm := "long-watch-" + r.name()
		framework.Kubectl(t, env, member, "", "create", "configmap", cm, "--from-literal=v=0")
		// Not defer: the parallel subtests run after this function returns.
		t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, member, "", "delete", "configmap", cm) })
		t.Run(r.name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), hold+time.Minute)
			defer cancel()
			c := env.KubectlCmd(ctx, env.Kubeconfig(), "", append(append([]string{}, flags...),
				"get", "configmap", cm, "-w", "--output-watch-events", "-o", "jsonpath={.type} {.object.data.v}{\"\\n\"}")...)
			events, stderr := stream(t, c)
			require.Equal(t, "ADDED 0", <-events)
			time.Sleep(hold)
			select {
			case e, ok := <-events:
				t.Fatalf("the watch changed while idle (%q, open %v); stderr: %s", e, ok, stderr.String())
			default:
			}
			v := strings.ReplaceAll(path, "-", "")
			framework.Kubectl(t, env, member, "", "patch", "configmap", cm, "-p", `{"data":{"v":"`+v+`"}}`)
			for {
				select {
				case e, ok := <-events:
					require.True(t, ok, "the watch ended after %s; stderr: %s", hold, stderr.String())
					if e == "MODIFIED "+v {
						return
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("no MODIFIED event after %s; stderr: %s", hold, stderr.String())
				}
			}
		})
	}
}

// TestStoppedMember: a member whose API server is down answers 503 at once, naming the
// cluster, and works again when it is back; a member that accepts connections but never
// answers gives a 503 within a bounded time, not a hang.
func TestStoppedMember(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, env.Stop("member2-kube-apiserver"))
	defer func() { require.NoError(t, env.StartKubeAPIServer(ctx, "member2")) }()
	for _, url := range []string{env.ViaHostURL("member2") + "/version", env.DirectPathURL("member2") + "/version"} {
		s, took := getStatus(t, url)
		assert.Equal(t, int32(http.StatusServiceUnavailable), s.Code, url)
		assert.Equal(t, metav1.StatusReasonServiceUnavailable, s.Reason)
		assert.Contains(t, s.Message, `cluster "member2" is unreachable`)
		assert.Contains(t, s.Message, "connection refused")
		assert.Less(t, took, 5*time.Second)
	}
	require.NoError(t, env.StartKubeAPIServer(ctx, "member2"))
	out := framework.Kubectl(t, env, "member2-via-host", "", "get", "--raw", "/version")
	assert.Contains(t, out, "v1.36.3", "back without any step on the host")

	// A listener that accepts and never speaks.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "silent", Endpoint: "https://" + l.Addr().String(),
		Secret: framework.CopySecret(t, env, "member1-credentials", "silent-credentials")}), "apply", "-f", "-")
	defer func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "silent") }()
	var s metav1.Status
	var took time.Duration
	require.Eventually(t, func() bool {
		s, took = getStatus(t, env.DirectPathURL("silent")+"/version")
		return s.Code != http.StatusNotFound // until the cache sees the new Cluster
	}, 20*time.Second, 250*time.Millisecond)
	assert.Equal(t, int32(http.StatusServiceUnavailable), s.Code, s.Message)
	assert.Contains(t, s.Message, `cluster "silent" is unreachable`)
	assert.Less(t, took, 15*time.Second, "bounded by the TLS handshake timeout")
}

// TestMemberGoneSilentOnAnOpenConnection: a member that stops answering on the pooled
// connection the proxy already holds (its machine lost, a NAT entry dropped: no reset
// ever comes) gives a 503 within the HTTP/2 health check's 45 s, not a wait of many
// minutes for TCP to give up. A relay in front of member1's API server plays the network.
func TestMemberGoneSilentOnAnOpenConnection(t *testing.T) {
	t.Parallel()
	relay, err := faultnet.NewRelay(strings.TrimPrefix(env.MemberURL("member1"), "https://"))
	require.NoError(t, err)
	defer relay.Close()
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "frozen", Endpoint: "https://" + relay.Addr(),
		Secret: framework.CopySecret(t, env, "member1-credentials", "frozen-credentials")}), "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "frozen") })
	// A second Cluster of member1 is a duplicate that controller-manager never pins: the
	// host admin pins it by hand, so that the proxy reaches member1 through the relay.
	pin(t, "frozen", framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.status.uid}"))
	url := env.DirectPathURL("frozen") + "/version"
	require.Eventually(t, func() bool {
		client, err := rest.HTTPClientFor(framework.AdminRESTConfig(t, env, env.ClusterAPIServerURL()))
		require.NoError(t, err)
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 250*time.Millisecond, "the proxy reaches member1 through the relay")

	relay.Freeze()
	s, took := getStatus(t, url)
	t.Logf("member silent on the open connection: %d after %s", s.Code, took.Round(time.Millisecond))
	assert.Equal(t, int32(http.StatusServiceUnavailable), s.Code, s.Message)
	assert.Contains(t, s.Message, `cluster "frozen" is unreachable`)
	assert.Less(t, took, 60*time.Second, "ping after 30 s without a frame, 15 s for the answer")
}
