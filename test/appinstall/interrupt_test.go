package appinstall

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/apis/appstore/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// Timings of the tests of interrupted operations. opTimeout is their releases'
// spec.timeout: long enough that an operation is still running when the test cuts it off,
// even on a loaded machine. main_test.go gives appstore-controller pendingGrace.
const (
	opTimeout    = 15 * time.Second
	pendingGrace = 3 * time.Second
)

// A Helm operation cut off by a crash of appstore-controller (SIGKILL, mid-install and
// mid-upgrade, each waiting on a Deployment whose pods are not scheduled) leaves pending
// records on the member. The restarted controller leaves them alone while an operation of
// that age could still be running (the status says OperationInProgress), then marks them
// failed and goes on: the upgrade from its failed revision, the first install afresh (a
// failed first install leaves nothing). Both end deployed, with no pending record and
// nothing half-installed left on the member.
func TestCutOffOperationRecovers(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "cutoff")
	dev := asDeveloper(t)
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }
	for _, name := range []string{"cutoff-new", "cutoff-up"} {
		t.Cleanup(func() {
			_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", name, "--ignore-not-found")
		})
	}
	// Whatever happens, the test leaves a running controller behind.
	t.Cleanup(func() {
		if env.Pid(localenv.AppStoreControllerID) == 0 {
			require.NoError(t, env.StartAppStoreController(ctx))
		}
	})

	_, err := asDev(timedRelease("cutoff-up", "cutoff.hello", "0.1.0", "member1"), "create", "-f", "-")
	require.NoError(t, err)
	waitRelease(t, "cutoff-up", 2*time.Minute, deployed)

	// No new pod is scheduled on member1 (its scheduler is down): the install's and the
	// upgrade's Deployments wait, and so does Helm, for opTimeout.
	resume := stopScheduling(t, "member1")
	_, err = asDev(timedRelease("cutoff-new", "cutoff.hello", "0.1.0", "member1"), "create", "-f", "-")
	require.NoError(t, err)
	_, err = asDev("", "patch", "applicationrelease", "cutoff-up", "--type=merge", "-p", `{"spec":{"version":"0.2.0"}}`)
	require.NoError(t, err)
	installing := waitPending(t, "member1", "cutoff-new", 1, "pending-install")
	upgrading := waitPending(t, "member1", "cutoff-up", 2, "pending-upgrade")
	// Helm writes the record before the objects: wait for the install's Deployment.
	var halfInstalled string
	for deadline := time.Now().Add(time.Minute); halfInstalled == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		halfInstalled, _ = framework.TryKubectl(t, env, "member1", "", "get", "deployment", "cutoff-new-hello", "-n", "default",
			"-o", "jsonpath={.metadata.uid}")
	}
	require.NotEmpty(t, halfInstalled, "the cut-off install applied its Deployment")

	require.NoError(t, env.Kill(localenv.AppStoreControllerID))
	killed := time.Now()
	// Still pending: the kill cut both operations off (had Helm finished one, the test
	// would prove nothing; opTimeout is what keeps them running this long).
	last := func(h []helmRevision) helmRevision { return h[len(h)-1] }
	require.Equal(t, "pending-install", last(memberHistory(t, "member1", "cutoff-new")).Status)
	require.Equal(t, "pending-upgrade", last(memberHistory(t, "member1", "cutoff-up")).Status)
	r, _ := getRelease(t, "cutoff-new")
	assert.Equal(t, v1alpha1.ReleasePhaseInstalling, entry(t, r, "member1").Phase, "status as the dead controller left it")
	r, _ = getRelease(t, "cutoff-up")
	assert.Equal(t, v1alpha1.ReleasePhaseUpgrading, entry(t, r, "member1").Phase, "status as the dead controller left it")

	// The cause is gone while no controller runs: what is left to recover is the records.
	resume()
	require.NoError(t, env.StartAppStoreController(ctx))
	t.Logf("appstore-controller killed and started again in %s", time.Since(killed).Round(time.Millisecond))

	// While a record is young enough to be a live operation's, the release waits, saying
	// why; then it goes on.
	sawInProgress := map[string]string{}
	generation := map[string]int64{"cutoff-new": 1, "cutoff-up": 2}
	deadline := time.Now().Add(2 * time.Minute)
	for done := map[string]bool{}; len(done) < len(generation); time.Sleep(500 * time.Millisecond) {
		for name, gen := range generation {
			r, found := getRelease(t, name)
			for _, e := range r.Status.Clusters {
				if e.Reason == "OperationInProgress" {
					sawInProgress[name] = e.Message
				}
			}
			if r.Generation == gen && deployed(r, found) {
				done[name] = true
			}
		}
		if time.Now().After(deadline) {
			t.Logf("member1's objects:\n%s\n%s", memberState(t, "member1", "cutoff-new"), memberState(t, "member1", "cutoff-up"))
			waitRelease(t, "cutoff-new", 0, deployed) // fails with its status
			waitRelease(t, "cutoff-up", 0, deployed)
		}
	}
	t.Logf("both releases deployed %s after the kill", time.Since(killed).Round(time.Millisecond))
	for name := range generation {
		assert.Contains(t, sawInProgress[name], "member1", "%s: the status said why it waited", name)
		assert.Contains(t, sawInProgress[name], "is pending-", "%s: the status said why it waited", name)
		r, _ := getRelease(t, name)
		e := entry(t, r, "member1")
		assert.Equal(t, v1alpha1.ReleasePhaseDeployed, e.Phase, name)
		assert.Empty(t, e.Reason, name)
		assert.EqualValues(t, e.TotalResources, e.ReadyResources, name)
	}

	// The upgrade went on from its cut-off revision, marked failed: 1 superseded, 2 failed,
	// 3 deployed, made only once 2 was older than any operation may run.
	r, _ = getRelease(t, "cutoff-up")
	e := entry(t, r, "member1")
	assert.EqualValues(t, 3, e.Revision)
	assert.Equal(t, "0.2.0", e.ChartVersion)
	require.Len(t, e.Revisions, 3)
	assert.Equal(t, "failed", e.Revisions[1].Result)
	assert.Contains(t, e.Revisions[1].Message, "did not finish; marked failed")
	history := memberHistory(t, "member1", "cutoff-up")
	require.Len(t, history, 3, "helm history cutoff-up: %+v", history)
	assert.Equal(t, []string{"superseded", "failed", "deployed"}, statuses(history))
	assert.Equal(t, "appstore: pending-upgrade of generation 2 did not finish; marked failed", history[1].Description)
	assert.Equal(t, "appstore: upgrade by developer (generation 2)", history[2].Description)
	assert.Equal(t, "hello-0.2.0", history[2].Chart)
	assert.True(t, history[2].Updated.After(upgrading.Updated.Add(opTimeout+pendingGrace)),
		"revision 3 (%s) began after revision 2 (%s) was older than timeout plus grace", history[2].Updated, upgrading.Updated)

	// The first install: the cut-off record and what it had applied were removed, and the
	// release installed afresh as revision 1.
	history = memberHistory(t, "member1", "cutoff-new")
	require.Len(t, history, 1, "helm history cutoff-new: %+v", history)
	assert.Equal(t, "deployed", history[0].Status)
	assert.Equal(t, "appstore: install by developer (generation 1)", history[0].Description)
	assert.True(t, history[0].Updated.After(installing.Updated.Add(opTimeout+pendingGrace)),
		"the new install (%s) began after the cut-off one (%s) was older than timeout plus grace", history[0].Updated, installing.Updated)
	r, _ = getRelease(t, "cutoff-new")
	assert.EqualValues(t, 1, entry(t, r, "member1").Revision)
	assert.Len(t, entry(t, r, "member1").Revisions, 1)
	assert.NotEqual(t, halfInstalled, framework.Kubectl(t, env, "member1", "", "get", "deployment", "cutoff-new-hello", "-n", "default",
		"-o", "jsonpath={.metadata.uid}"), "the half-installed Deployment was removed, not adopted")

	// Nothing pending or half-installed is left: Helm's records are the two releases'
	// revisions, each object of the charts is there once and ready.
	assert.Empty(t, strings.TrimSpace(helmOnMember(t, "member1", "list", "-n", "default", "--pending", "-q")), "helm list --pending")
	assert.Equal(t, "cutoff-new\tdeployed\ncutoff-up\tdeployed", helmListAll(t, "member1", "^cutoff-"))
	assert.Equal(t, []string{"secret/sh.helm.release.v1.cutoff-new.v1"}, names(t, "member1", "secrets", "owner=helm,name=cutoff-new"))
	assert.Equal(t, []string{"secret/sh.helm.release.v1.cutoff-up.v1", "secret/sh.helm.release.v1.cutoff-up.v2", "secret/sh.helm.release.v1.cutoff-up.v3"},
		names(t, "member1", "secrets", "owner=helm,name=cutoff-up"))
	for _, name := range []string{"cutoff-new", "cutoff-up"} {
		assert.Equal(t, []string{"configmap/" + name + "-hello", "deployment.apps/" + name + "-hello", "service/" + name + "-hello"},
			names(t, "member1", "configmaps,deployments,services", "app.kubernetes.io/instance="+name), name)
	}
	assert.Equal(t, "1", framework.Kubectl(t, env, "member1", "", "get", "deployment", "cutoff-new-hello", "-n", "default", "-o", "jsonpath={.status.readyReplicas}"))
	assert.Equal(t, "2", framework.Kubectl(t, env, "member1", "", "get", "deployment", "cutoff-up-hello", "-n", "default", "-o", "jsonpath={.status.readyReplicas}"))
}

// timedRelease is a release on clusters, in default, whose operations time out after
// opTimeout.
func timedRelease(name, app, version string, clusters ...string) string {
	var obj map[string]any
	_ = json.Unmarshal([]byte(release(name, app, version, "default", nil, clusters...)), &obj)
	obj["spec"].(map[string]any)["timeout"] = opTimeout.String()
	out, _ := json.Marshal(obj)
	return string(out)
}

// stopScheduling stops member's kube-scheduler, so that new pods stay Pending; the
// returned func (also run at cleanup) starts it again. (Cordoning the nodes would do too,
// but an update of a kwok node postpones its next heartbeat, and a node found NotReady
// leaves its pods NotReady for good: no kubelet makes them Ready again.)
func stopScheduling(t *testing.T, member string) func() {
	t.Helper()
	id := member + "-kube-scheduler"
	require.NoError(t, env.Stop(id))
	t.Cleanup(func() {
		if env.Pid(id) == 0 {
			require.NoError(t, env.StartScheduler(member))
		}
	})
	return func() { require.NoError(t, env.StartScheduler(member)) }
}

// helmRevision is one entry of `helm history -o json`, with its time.
type helmRevision struct {
	Revision    int       `json:"revision"`
	Updated     time.Time `json:"updated"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	Description string    `json:"description"`
}

// memberHistory is `helm history` of release in default on member; none when the
// release is not there.
func memberHistory(t *testing.T, member, release string) []helmRevision {
	t.Helper()
	out, err := env.Helm(context.Background(), "--kubeconfig", env.Kubeconfig(), "--kube-context", member,
		"history", release, "-n", "default", "-o", "json")
	if err != nil && strings.Contains(err.Error(), "release: not found") {
		return nil
	}
	require.NoError(t, err)
	var h []helmRevision
	require.NoError(t, json.Unmarshal([]byte(out), &h))
	return h
}

// waitPending waits until revision of release on member is in status (a pending one) and
// returns it.
func waitPending(t *testing.T, member, release string, revision int, status string) helmRevision {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		h := memberHistory(t, member, release)
		if n := len(h); n > 0 && h[n-1].Revision == revision && h[n-1].Status == status {
			return h[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s: no revision %d %s within a minute: %+v (controller log: %s)", release, member, revision, status, h,
				env.LogFile(localenv.AppStoreControllerID))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func statuses(h []helmRevision) []string {
	var out []string
	for _, r := range h {
		out = append(out, r.Status)
	}
	return out
}

// helmListAll is `helm list` (Helm 4 lists every status) in default on member for the
// releases filter matches: name and status per line.
func helmListAll(t *testing.T, member, filter string) string {
	t.Helper()
	var lines []string
	for _, r := range helmJSON(t, member, "list", "-n", "default", "--filter", filter) {
		lines = append(lines, r.Name+"\t"+r.Status)
	}
	return strings.Join(lines, "\n")
}

// names lists the objects of kinds in default on member that selector matches, as
// kind/name, sorted by kubectl (by kind, then name).
func names(t *testing.T, member, kinds, selector string) []string {
	t.Helper()
	return strings.Fields(framework.Kubectl(t, env, member, "", "get", kinds, "-n", "default", "-l", selector, "-o", "name"))
}

// While the member's own operator runs `helm upgrade --wait` on a release of the store
// (pending-upgrade, its new pods not scheduled), a change of the ApplicationRelease waits:
// its status says OperationInProgress, and the controller leaves the other client's
// pending record alone even once it is older than the release's timeout plus the grace
// that would make a record of its own abandoned (Helm copies the last revision's labels,
// the store's, onto the other client's). When the other operation ends, the change goes
// through as a revision after the other client's.
//
// The store's change sets another value than the other client's upgrade did: the fields
// that client's server-side apply (field manager helm) took are taken back, as the
// ApplicationRelease asks (the store's upgrades force conflicts).
func TestOtherOperationRespected(t *testing.T) {
	ctx := context.Background()
	indexRepo(t, "busy")
	dev := asDeveloper(t)
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "busy", "--ignore-not-found")
	})
	// Its own operations are short: it waits out the other client's, not its own.
	const timeout = 10 * time.Second
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(release("busy", "busy.hello", "0.1.0", "default", nil, "member1")), &obj))
	obj["spec"].(map[string]any)["timeout"] = timeout.String()
	manifest, _ := json.Marshal(obj)
	_, err := asDev(string(manifest), "create", "-f", "-")
	require.NoError(t, err)
	waitRelease(t, "busy", 2*time.Minute, deployed)

	// The member's operator upgrades the release to the next chart version, and waits for
	// pods that are not scheduled.
	resume := stopScheduling(t, "member1")
	chart, err := filepath.Abs(filepath.Join("..", "testdata", "charts", "hello-0.2.0"))
	require.NoError(t, err)
	cliCtx, stopCLI := context.WithTimeout(ctx, 3*time.Minute)
	defer stopCLI()
	cli := env.HelmCmd(cliCtx, "--kubeconfig", env.Kubeconfig(), "--kube-context", "member1", "upgrade", "busy", chart,
		"-n", "default", "--wait=watcher", "--timeout=3m", "--force-conflicts", "--debug")
	var cliOut bytes.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	require.NoError(t, cli.Start())
	cliDone := make(chan error, 1)
	go func() { cliDone <- cli.Wait() }()
	other := waitPending(t, "member1", "busy", 2, "pending-upgrade")
	// Old enough that a record of the store's own would count as abandoned.
	time.Sleep(time.Until(other.Updated.Add(timeout + pendingGrace + time.Second)))

	_, err = asDev("", "patch", "applicationrelease", "busy", "--type=merge", "-p", `{"spec":{"version":"0.2.0","values":{"message":"from the store"}}}`)
	require.NoError(t, err)
	// Two attempts refused, and between them nothing done to the other client's record.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, _ := getRelease(t, "busy")
		e := entry(t, r, "member1")
		h := memberHistory(t, "member1", "busy")
		require.Len(t, h, 2, "helm history busy while the other upgrade runs: %+v", h)
		require.Equal(t, "pending-upgrade", h[1].Status, "the other client's record is left alone: %+v", h[1])
		select {
		case err := <-cliDone:
			t.Fatalf("the other client's upgrade ended while it should wait (%v): %s", err, cliOut.String())
		default:
		}
		if r.Status.ObservedGeneration == 2 && e.Reason == "OperationInProgress" && e.Attempts >= 2 {
			assert.Contains(t, e.Message, "revision 2 is pending-upgrade")
			assert.Contains(t, e.Message, "member1")
			require.NotNil(t, e.NextAttemptTime, "retried by itself")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two OperationInProgress attempts within 2 minutes: %+v", e)
		}
		time.Sleep(500 * time.Millisecond)
	}
	r, _ := getRelease(t, "busy")
	assert.False(t, deployed(r, true), "not Ready while the change waits")

	// The other operation ends; the change goes on from its revision.
	resume()
	select {
	case err := <-cliDone:
		require.NoError(t, err, cliOut.String())
	case <-cliCtx.Done():
		t.Fatalf("the other client's upgrade did not end: %s\nmember1's objects:\n%s", cliOut.String(), memberState(t, "member1", "busy"))
	}
	assert.Contains(t, cliOut.String(), `Release "busy" has been upgraded`)
	r = waitRelease(t, "busy", 2*time.Minute, func(r v1alpha1.ApplicationRelease, found bool) bool { return r.Generation == 2 && deployed(r, found) })
	e := entry(t, r, "member1")
	assert.EqualValues(t, 3, e.Revision)
	assert.Equal(t, "0.2.0", e.ChartVersion)
	assert.Empty(t, e.Reason)
	history := memberHistory(t, "member1", "busy")
	require.Len(t, history, 3, "helm history busy: %+v", history)
	assert.Equal(t, []string{"superseded", "superseded", "deployed"}, statuses(history))
	assert.Equal(t, "Upgrade complete", history[1].Description, "the other client's revision, as it recorded it")
	assert.Equal(t, "hello-0.2.0", history[1].Chart)
	assert.Equal(t, "appstore: upgrade by developer (generation 2)", history[2].Description)
	assert.Equal(t, "hello-0.2.0", history[2].Chart)
	assert.Equal(t, "from the store", framework.Kubectl(t, env, "member1", "", "get", "configmap", "busy-hello", "-n", "default", "-o", "jsonpath={.data.message}"))
}

// memberState describes the workload of release on member, for failure messages: its
// Deployment, ReplicaSets and pods, with their status.
func memberState(t *testing.T, member, release string) string {
	t.Helper()
	sel := "app.kubernetes.io/instance=" + release
	wide, _ := framework.TryKubectl(t, env, member, "", "get", "deployments,replicasets,pods", "-n", "default", "-l", sel, "-o", "wide")
	status, _ := framework.TryKubectl(t, env, member, "", "get", "deployments,replicasets,pods", "-n", "default", "-l", sel,
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name} rv={.metadata.resourceVersion} {.status}{"\n"}{end}`)
	return wide + status
}
