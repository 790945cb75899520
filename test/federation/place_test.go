package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"

	"kubesphere.io/multicluster/apis/federation/v1alpha1"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

var members = []string{"member1", "member2"} // member2 joined by agent

// getFO reads a FederatedObject as the admin; found is false once it is gone.
func getFO(t *testing.T, ns, name string) (v1alpha1.FederatedObject, bool) {
	t.Helper()
	out, err := framework.TryKubectl(t, env, "host", "", "get", "fo", name, "-n", ns, "-o", "json")
	if err != nil {
		require.ErrorContains(t, err, "NotFound")
		return v1alpha1.FederatedObject{}, false
	}
	var fo v1alpha1.FederatedObject
	require.NoError(t, json.Unmarshal([]byte(out), &fo))
	return fo, true
}

// waitFO polls until done, and fails with the last status.
func waitFO(t *testing.T, ns, name string, done func(v1alpha1.FederatedObject, bool) bool) v1alpha1.FederatedObject {
	t.Helper()
	return waitFOFor(t, ns, name, 90*time.Second, done)
}

func waitFOFor(t *testing.T, ns, name string, timeout time.Duration, done func(v1alpha1.FederatedObject, bool) bool) v1alpha1.FederatedObject {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		fo, found := getFO(t, ns, name)
		if done(fo, found) {
			return fo
		}
		if time.Now().After(deadline) {
			st, _ := json.MarshalIndent(fo.Status, "", "  ")
			t.Fatalf("FederatedObject %s/%s not as expected within %s (generation %d); status:\n%s\n(log: %s)", ns, name, timeout, fo.Generation, st,
				env.LogFile("host-controller-manager-0"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func row(fo v1alpha1.FederatedObject, cluster string) (v1alpha1.ClusterStatus, bool) {
	for _, r := range fo.Status.Clusters {
		if r.Cluster == cluster {
			return r, true
		}
	}
	return v1alpha1.ClusterStatus{}, false
}

// readyEverywhere: every placed cluster has this generation applied and ready.
func readyEverywhere(fo v1alpha1.FederatedObject, found bool) bool {
	c := meta.FindStatusCondition(fo.Status.Conditions, v1alpha1.ConditionReady)
	return found && fo.Status.ObservedGeneration == fo.Generation && c != nil && c.Status == "True" && c.ObservedGeneration == fo.Generation
}

func web(image string, clusters ...string) string {
	obj, _ := json.Marshal(map[string]any{
		"apiVersion": "federation.kubesphere.io/v1alpha1", "kind": "FederatedObject",
		"metadata": map[string]any{"name": "web", "namespace": "default"},
		"spec": map[string]any{
			"template": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
				"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
					"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
						"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": image}}}}}},
			"placement": map[string]any{"clusters": clusters},
			"overrides": []any{map[string]any{"cluster": "member1", "patches": []any{
				map[string]any{"op": "replace", "path": "/spec/replicas", "value": 2},
				map[string]any{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image + "-member1"}}}},
		},
	})
	return string(obj)
}

func onMember(t *testing.T, m, jsonpath string, args ...string) string {
	t.Helper()
	return framework.Kubectl(t, env, m, "", append(args, "-o", "jsonpath="+jsonpath)...)
}

// A Deployment placed on member1 (Direct) and member2 (Agent) as the developer, with a
// per-cluster override: applied and running on both, status summed; a template change
// reaches both; a field changed on a member is reported (and reverted under Revert), an
// HPA-like writer of replicas is not fought; a cluster taken out of the placement is
// cleaned; deleting cleans everywhere.
func TestPlaceDeployment(t *testing.T) {
	ctx := context.Background()
	dev := federationUser(t, "default")
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", "web", "-n", "default", "--ignore-not-found", "--timeout=60s")
	})

	_, err := asDev(web("nginx:1.27", members...), "create", "-f", "-")
	require.NoError(t, err)
	fo := waitFO(t, "default", "web", readyEverywhere)
	assert.EqualValues(t, 3, fo.Status.Replicas, "1 on member2 and 2 on member1")
	assert.EqualValues(t, 3, fo.Status.ReadyReplicas)
	for _, m := range members {
		r, ok := row(fo, m)
		require.True(t, ok, m)
		assert.True(t, r.Applied && r.Ready, "%s: %+v", m, r)
		assert.NotEmpty(t, r.ResourceVersion, m)
		assert.Equal(t, string(fo.UID), onMember(t, m, `{.metadata.labels.federation\.kubesphere\.io/owner-uid}`, "get", "deployment", "web", "-n", "default"), m)
	}
	assert.Equal(t, "2 nginx:1.27-member1", onMember(t, "member1", "{.spec.replicas} {.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))
	assert.Equal(t, "1 nginx:1.27", onMember(t, "member2", "{.spec.replicas} {.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))
	assert.Equal(t, "Running Running", onMember(t, "member1", "{.items[*].status.phase}", "get", "pods", "-n", "default", "-l", "app=web"))
	assert.Regexp(t, `web\s+Deployment\s+2/2\s+True`, framework.Kubectl(t, env, "host", "", "get", "fo", "web", "-n", "default"))
	managers := onMember(t, "member2", "{.metadata.managedFields[*].manager}", "get", "deployment", "web", "-n", "default")
	assert.Contains(t, managers, "kubesphere-federation/"+string(fo.UID), "one field manager per federated object")

	// A new template reaches both members.
	_, err = asDev(web("nginx:1.28", members...), "apply", "-f", "-")
	require.NoError(t, err)
	waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, found bool) bool {
		return readyEverywhere(fo, found) && fo.Generation == 2
	})
	assert.Equal(t, "nginx:1.28-member1", onMember(t, "member1", "{.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))
	assert.Equal(t, "nginx:1.28", onMember(t, "member2", "{.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))

	// Drift: the member's admin sets another image; reported with its path, not reverted.
	framework.Kubectl(t, env, "member1", "", "set", "image", "deployment/web", "-n", "default", "web=nginx:hotfix")
	fo = waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r, _ := row(fo, "member1")
		return len(r.Drifted) > 0
	})
	r, _ := row(fo, "member1")
	assert.Contains(t, r.Drifted, ".spec.template.spec.containers[0].image")
	assert.True(t, meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionDrifted))
	time.Sleep(2 * time.Second)
	assert.Equal(t, "nginx:hotfix", onMember(t, "member1", "{.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"),
		"drift: Report leaves the member's value")

	// An HPA-like writer scales member2: reported, not fought over.
	framework.Kubectl(t, env, "member2", "", "scale", "deployment/web", "-n", "default", "--replicas=3")
	waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r, _ := row(fo, "member2")
		return strings.Contains(strings.Join(r.Drifted, ","), ".spec.replicas")
	})
	time.Sleep(2 * time.Second)
	assert.Equal(t, "3", onMember(t, "member2", "{.spec.replicas}", "get", "deployment", "web", "-n", "default"))
	// A new template still reaches member2, around the field the scaler took.
	_, err = asDev(web("nginx:1.29", members...), "apply", "-f", "-")
	require.NoError(t, err)
	waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r, _ := row(fo, "member2")
		return fo.Generation == 3 && r.Applied && r.AppliedGeneration == 3
	})
	assert.Equal(t, "3 nginx:1.29", onMember(t, "member2", "{.spec.replicas} {.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))

	// drift: Revert restores what the template says, on both.
	_, err = asDev("", "patch", "fo", "web", "-n", "default", "--type=merge", "-p", `{"spec":{"drift":"Revert"}}`)
	require.NoError(t, err)
	waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, found bool) bool {
		r1, _ := row(fo, "member1")
		r2, _ := row(fo, "member2")
		return readyEverywhere(fo, found) && len(r1.Drifted) == 0 && len(r2.Drifted) == 0
	})
	assert.Equal(t, "nginx:1.29-member1", onMember(t, "member1", "{.spec.template.spec.containers[0].image}", "get", "deployment", "web", "-n", "default"))
	assert.Equal(t, "1", onMember(t, "member2", "{.spec.replicas}", "get", "deployment", "web", "-n", "default"))

	// member2 leaves the placement: its Deployment is deleted there, its row goes.
	_, err = asDev("", "patch", "fo", "web", "-n", "default", "--type=merge", "-p", `{"spec":{"placement":{"clusters":["member1"]}}}`)
	require.NoError(t, err)
	waitFO(t, "default", "web", func(fo v1alpha1.FederatedObject, found bool) bool {
		_, has := row(fo, "member2")
		return readyEverywhere(fo, found) && !has
	})
	_, err = framework.TryKubectl(t, env, "member2", "", "get", "deployment", "web", "-n", "default")
	assert.ErrorContains(t, err, "NotFound")

	// Deleting the object deletes what it made, then the object goes.
	_, err = asDev("", "delete", "fo", "web", "-n", "default", "--timeout=60s")
	require.NoError(t, err)
	waitFO(t, "default", "web", func(_ v1alpha1.FederatedObject, found bool) bool { return !found })
	_, err = framework.TryKubectl(t, env, "member1", "", "get", "deployment", "web", "-n", "default")
	assert.ErrorContains(t, err, "NotFound")
}

// configMap is a FederatedObject of a ConfigMap in ns with extra spec fields.
func configMap(name, ns string, spec map[string]any) string {
	s := map[string]any{"template": map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name},
		"data": map[string]any{"greeting": "hello"}}, "placement": map[string]any{"clusters": members}}
	for k, v := range spec {
		s[k] = v
	}
	obj, _ := json.Marshal(map[string]any{"apiVersion": "federation.kubesphere.io/v1alpha1", "kind": "FederatedObject",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": s})
	return string(obj)
}

// Rows a user acts on: the member refusing the developer is Forbidden on that row only; an
// object that exists and is not ours is a Conflict under Refuse and adopted under Adopt; a
// kind a member does not serve is KindNotServed; Orphan leaves the object, unlabelled.
func TestRowsAUserActsOn(t *testing.T) {
	ctx := context.Background()
	dev := federationUser(t, "default")
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	asDev := func(stdin string, args ...string) (string, error) { return env.KubectlAs(ctx, dev, "", stdin, args...) }

	// The developer may edit namespace team on member1 only.
	framework.Kubectl(t, env, "host", "", "create", "namespace", "team")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "namespace", "team", "--wait=false") })
	federationUserIn(t, "team")
	for _, m := range members {
		framework.Kubectl(t, env, m, "", "create", "namespace", "team")
		t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, m, "", "delete", "namespace", "team", "--wait=false") })
	}
	framework.Kubectl(t, env, "member1", "", "create", "rolebinding", "dev-edit", "-n", "team", "--clusterrole=edit", "--user="+localenv.DeveloperUser)
	_, err := asDev(configMap("settings", "team", nil), "create", "-f", "-")
	require.NoError(t, err)
	fo := waitFO(t, "team", "settings", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r1, _ := row(fo, "member1")
		r2, _ := row(fo, "member2")
		return r1.Applied && r1.Ready && r2.Reason == "Forbidden"
	})
	r2, _ := row(fo, "member2")
	assert.Contains(t, r2.Message, fmt.Sprintf("%q", localenv.DeveloperUser), "the member judged the developer")
	assert.False(t, r2.Applied)
	assert.Equal(t, "hello", onMember(t, "member1", "{.data.greeting}", "get", "configmap", "settings", "-n", "team"))
	// Deleting cleans member1; member2 was never applied, so there is nothing to clean.
	framework.Kubectl(t, env, "host", "", "delete", "fo", "settings", "-n", "team", "--timeout=60s")
	_, err = framework.TryKubectl(t, env, "member1", "", "get", "configmap", "settings", "-n", "team")
	assert.ErrorContains(t, err, "NotFound")

	// An object that is not ours: refused, then adopted.
	framework.Kubectl(t, env, "member1", "", "create", "configmap", "existing", "-n", "default", "--from-literal=greeting=mine")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", "existing", "-n", "default", "--ignore-not-found", "--timeout=60s")
	})
	_, err = asDev(configMap("existing", "default", nil), "create", "-f", "-")
	require.NoError(t, err)
	fo = waitFO(t, "default", "existing", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r1, _ := row(fo, "member1")
		r2, _ := row(fo, "member2")
		return r1.Reason == "Conflict" && r2.Applied
	})
	r1, _ := row(fo, "member1")
	assert.Contains(t, r1.Message, "conflictPolicy Adopt")
	assert.Equal(t, "mine", onMember(t, "member1", "{.data.greeting}", "get", "configmap", "existing", "-n", "default"), "Refuse leaves it")
	_, err = asDev("", "patch", "fo", "existing", "-n", "default", "--type=merge", "-p", `{"spec":{"conflictPolicy":"Adopt","deletionPolicy":"Orphan"}}`)
	require.NoError(t, err)
	waitFO(t, "default", "existing", readyEverywhere)
	assert.Equal(t, "hello", onMember(t, "member1", "{.data.greeting}", "get", "configmap", "existing", "-n", "default"))
	// Orphan: deleting leaves the objects on the members, without our label.
	_, err = asDev("", "delete", "fo", "existing", "-n", "default", "--timeout=60s")
	require.NoError(t, err)
	for _, m := range members {
		assert.Equal(t, "hello|", onMember(t, m, `{.data.greeting}|{.metadata.labels.federation\.kubesphere\.io/owner-uid}`, "get", "configmap", "existing", "-n", "default"), m)
		_, _ = framework.TryKubectl(t, env, m, "", "delete", "configmap", "existing", "-n", "default")
	}

	// A kind no member serves.
	widget := `{"apiVersion":"federation.kubesphere.io/v1alpha1","kind":"FederatedObject","metadata":{"name":"widget","namespace":"default"},
"spec":{"template":{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}},"placement":{"clusters":["member1"]}}}`
	_, err = asDev(widget, "create", "-f", "-")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", "widget", "-n", "default", "--ignore-not-found", "--timeout=60s")
	})
	fo = waitFO(t, "default", "widget", func(fo v1alpha1.FederatedObject, _ bool) bool {
		r, _ := row(fo, "member1")
		return r.Reason == "KindNotServed"
	})
	r1, _ = row(fo, "member1")
	assert.Contains(t, r1.Message, "does not serve example.com/v1 Widget")
}

// federationUser lets the developer place objects from host namespace ns and returns the
// developer's kubeconfig.
func federationUser(t *testing.T, ns string) string {
	t.Helper()
	federationUserIn(t, ns)
	return framework.UserKubeconfig(t, env, env.HostURL(), localenv.DeveloperUser, "developers")
}

func federationUserIn(t *testing.T, ns string) {
	t.Helper()
	binding := fmt.Sprintf(`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "federation-user-dev", "namespace": %q},
  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:federation-user"},
  "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %q}]}`, ns, localenv.DeveloperUser)
	framework.Kubectl(t, env, "host", binding, "apply", "-f", "-")
}

// A member that is down holds only its own row: member1 is applied, member2 (its agent
// stopped) reports why, and catches up with no change to the object when it returns.
func TestMemberDownCatchesUp(t *testing.T) {
	ctx := context.Background()
	dev := federationUser(t, "default")
	require.NoError(t, env.GrantDeveloper(ctx, "member2"))
	require.NoError(t, env.Stop(localenv.AgentID("member2")))
	t.Cleanup(func() { _ = env.StartAgent("member2") })
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", "down", "-n", "default", "--ignore-not-found", "--timeout=60s")
	})
	_, err := env.KubectlAs(ctx, dev, "", configMap("down", "default", nil), "create", "-f", "-")
	require.NoError(t, err)
	fo := waitFOFor(t, "default", "down", 3*time.Minute, func(fo v1alpha1.FederatedObject, _ bool) bool {
		r1, _ := row(fo, "member1")
		r2, _ := row(fo, "member2")
		return r1.Applied && r1.Ready && (r2.Reason == "ClusterNotReady" || r2.Reason == "Unreachable")
	})
	r2, _ := row(fo, "member2")
	assert.False(t, r2.Applied)
	assert.Contains(t, r2.Message, "member2")
	assert.False(t, meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionApplied))

	require.NoError(t, env.StartAgent("member2"))
	fo = waitFOFor(t, "default", "down", 3*time.Minute, readyEverywhere)
	assert.EqualValues(t, 1, fo.Generation, "caught up with no change to the object")
	assert.Equal(t, "hello", onMember(t, "member2", "{.data.greeting}", "get", "configmap", "down", "-n", "default"))
}
