package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"kubesphere.io/multicluster/apis/clusters/v1alpha1"
	clusterac "kubesphere.io/multicluster/generated/applyconfiguration/clusters/v1alpha1"
	"kubesphere.io/multicluster/generated/clientset/versioned"
	"kubesphere.io/multicluster/generated/informers/externalversions"
	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

func client(t *testing.T) versioned.Interface {
	t.Helper()
	cs, err := versioned.NewForConfig(framework.AdminRESTConfig(t, env, ""))
	require.NoError(t, err)
	return cs
}

func TestAPIServiceAvailable(t *testing.T) {
	out := framework.Kubectl(t, env, "host", "", "get", "apiservice", localenv.APIServiceName,
		"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
	assert.Equal(t, "True", out)
	groups := framework.Kubectl(t, env, "host", "", "api-resources", "--api-group=clusters.kubesphere.io", "-o", "wide")
	assert.Contains(t, groups, "clusters")
	assert.Contains(t, groups, "mc", "short name")
	assert.Contains(t, groups, "Cluster")
}

// TestOpenAPIPublished: the host aggregates both documents, which is what explain, apply
// and client-side validation read.
func TestOpenAPIPublished(t *testing.T) {
	// The aggregator fetches an aggregated group's documents shortly after its APIService
	// becomes Available: wait for them, within a bound.
	published := func(path, model string) string {
		t.Helper()
		var doc string
		require.Eventually(t, func() bool {
			out, err := framework.TryKubectl(t, env, "host", "", "get", "--raw", path)
			doc = out
			return err == nil && strings.Contains(out, model)
		}, 60*time.Second, time.Second, "%s never held %s", path, model)
		return doc
	}
	v2 := published("/openapi/v2", `"io.kubesphere.multicluster.apis.clusters.v1alpha1.Cluster"`)
	assert.Contains(t, v2, `"x-kubernetes-group-version-kind"`)
	v3 := published("/openapi/v3/apis/clusters.kubesphere.io/v1alpha1", `"io.kubesphere.multicluster.apis.clusters.v1alpha1.ClusterSpec"`)
	assert.Contains(t, v3, `"x-kubernetes-list-map-keys"`, "conditions merge by type under server-side apply")
}

func TestKubectlLifecycle(t *testing.T) {
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "kubectl-one", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "kubectl-one-credentials"}), "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "kubectl-one", "--ignore-not-found")
	})

	table := framework.Kubectl(t, env, "host", "", "get", "clusters", "kubectl-one")
	header := strings.Fields(strings.SplitN(table, "\n", 2)[0])
	assert.Equal(t, []string{"NAME", "CONNECTION", "READY", "VERSION", "NODES", "AGE"}, header)
	assert.Regexp(t, `kubectl-one\s+Direct\s+Unknown\s+\d+s`, table)
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "mc", "-o", "name"), "cluster.clusters.kubesphere.io/kubectl-one")

	// Every patch type kubectl offers.
	framework.Kubectl(t, env, "host", "", "patch", "cluster", "kubectl-one", "--type=merge", "-p", `{"spec":{"region":"eu-west-1"}}`)
	framework.Kubectl(t, env, "host", "", "patch", "cluster", "kubectl-one", "--type=json", "-p", `[{"op":"replace","path":"/spec/provider","value":"aws"}]`)
	framework.Kubectl(t, env, "host", "", "patch", "cluster", "kubectl-one", "--type=strategic", "-p", `{"metadata":{"labels":{"env":"dev"}}}`)
	framework.Kubectl(t, env, "host", "", "label", "cluster", "kubectl-one", "team=platform")
	got := framework.Kubectl(t, env, "host", "", "get", "cluster", "kubectl-one", "-o", "jsonpath={.spec.region} {.spec.provider} {.metadata.labels.env} {.metadata.labels.team} {.metadata.generation}")
	assert.Equal(t, "eu-west-1 aws dev platform 3", got, "two spec changes bump the generation twice, label changes do not")

	// Field and label selectors.
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "-l", "team=platform", "-o", "name"), "kubectl-one")
	assert.Contains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "--field-selector", "spec.connection.type=Direct", "-o", "name"), "kubectl-one")
	assert.NotContains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "--field-selector", "spec.connection.type=Agent", "-o", "name"), "kubectl-one")

	// Update (replace) with the whole object.
	obj := framework.Kubectl(t, env, "host", "", "get", "cluster", "kubectl-one", "-o", "json")
	obj = strings.Replace(obj, `"region": "eu-west-1"`, `"region": "eu-central-1"`, 1)
	framework.Kubectl(t, env, "host", obj, "replace", "-f", "-")
	assert.Equal(t, "eu-central-1", framework.Kubectl(t, env, "host", "", "get", "cluster", "kubectl-one", "-o", "jsonpath={.spec.region}"))

	// Explain documents the fields from the published OpenAPI.
	explain := framework.Kubectl(t, env, "host", "", "explain", "clusters.spec.connection")
	for _, field := range []string{"kubernetesAPIEndpoint", "caBundle", "credentialsSecretRef", "type", "enum: Agent, Direct"} {
		assert.Contains(t, explain, field)
	}

	framework.Kubectl(t, env, "host", "", "delete", "cluster", "kubectl-one")
	_, err := framework.TryKubectl(t, env, "host", "", "get", "cluster", "kubectl-one")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `clusters.clusters.kubesphere.io "kubectl-one" not found`)
}

func TestKubectlWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watchOut := make(chan string, 1)
	go func() {
		out, _ := env.Kubectl(ctx, "host", "", "get", "clusters", "--watch-only", "-o", "name", "--request-timeout=6s")
		watchOut <- out
	}()
	time.Sleep(2 * time.Second) // let the watch start
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "watched", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "watched-credentials"}), "create", "-f", "-")
	framework.Kubectl(t, env, "host", "", "delete", "cluster", "watched")
	out := <-watchOut
	assert.Contains(t, out, "cluster.clusters.kubesphere.io/watched")
}

func TestValidationErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"bad name": {framework.ClusterManifest(framework.Cluster{Name: "Bad.Name", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "Bad.Name-credentials"}), `metadata.name: Invalid value: "Bad.Name"`},
		"unknown type": {framework.ClusterManifest(framework.Cluster{Name: "badtype", Provider: "kwok", Type: "Proxy", Endpoint: "https://127.0.0.1:6443", Secret: "badtype-credentials"}),
			`spec.connection.type: Unsupported value: "Proxy": supported values: "Direct", "Agent"`},
		"no endpoint": {framework.ClusterManifest(framework.Cluster{Name: "noendpoint", Provider: "kwok", Secret: "noendpoint-credentials"}),
			"spec.connection.kubernetesAPIEndpoint: Required value: a Direct cluster needs the https URL of the member's API server"},
		"no credentials": {framework.ClusterManifest(framework.Cluster{Name: "nocreds", Provider: "kwok", Endpoint: "https://127.0.0.1:6443"}),
			"spec.connection.credentialsSecretRef: Required value"},
		"http endpoint": {framework.ClusterManifest(framework.Cluster{Name: "plainhttp", Provider: "kwok", Endpoint: "http://127.0.0.1:6443", Secret: "plainhttp-credentials"}), "must be an https URL"},
		"bad caBundle": {framework.ClusterManifest(framework.Cluster{Name: "badca", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", CABundle: "aGVsbG8=", Secret: "badca-credentials"}),
			"spec.connection.caBundle: Invalid value: \"<omitted>\": must be PEM-encoded certificates"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := framework.TryKubectl(t, env, "host", tc.yaml, "create", "-f", "-")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "is invalid")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// Nothing invalid was stored.
	assert.NotContains(t, framework.Kubectl(t, env, "host", "", "get", "clusters", "-o", "name"), "badtype")
}

func TestTypedClientAndInformer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := client(t)
	clusters := cs.ClustersV1alpha1().Clusters()

	factory := externalversions.NewSharedInformerFactory(cs, 0)
	informer := factory.Clusters().V1alpha1().Clusters()
	events := make(chan string, 10)
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { events <- "add " + obj.(*v1alpha1.Cluster).Name },
		UpdateFunc: func(_, obj any) {
			events <- "update " + obj.(*v1alpha1.Cluster).Name + " " + obj.(*v1alpha1.Cluster).Spec.Region
		},
		DeleteFunc: func(obj any) {
			if c, ok := obj.(*v1alpha1.Cluster); ok {
				events <- "delete " + c.Name
			}
		},
	})
	require.NoError(t, err)
	factory.Start(ctx.Done())
	// Shutdown waits for the informers, which stop when ctx is cancelled: cancel first.
	defer func() { cancel(); factory.Shutdown() }()
	require.True(t, cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced))

	w, err := clusters.Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()

	c := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "typed"}, Spec: v1alpha1.ClusterSpec{
		Connection: v1alpha1.Connection{KubernetesAPIEndpoint: "https://127.0.0.1:6443",
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "kubesphere-system", Name: "typed"}}}}
	created, err := clusters.Create(ctx, c, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, v1alpha1.ConnectionDirect, created.Spec.Connection.Type, "type defaults to Direct")
	assert.Equal(t, int64(1), created.Generation)

	_, err = clusters.Create(ctx, c, metav1.CreateOptions{})
	assert.True(t, apierrors.IsAlreadyExists(err), "second create: %v", err)

	created.Spec.Region = "r1"
	updated, err := clusters.Update(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), updated.Generation)

	// A stale update conflicts.
	created.Spec.Region = "stale"
	_, err = clusters.Update(ctx, created, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsConflict(err), "stale update: %v", err)

	_, err = clusters.Patch(ctx, "typed", types.MergePatchType, []byte(`{"spec":{"region":"r2"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	list, err := clusters.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.True(t, containsCluster(list.Items, "typed"))
	require.NoError(t, clusters.Delete(ctx, "typed", metav1.DeleteOptions{}))

	wantEvents := []string{"add typed", "update typed r1", "update typed r2", "delete typed"}
	for _, want := range wantEvents {
		select {
		case got := <-events:
			assert.Equal(t, want, got)
		case <-ctx.Done():
			t.Fatalf("informer: no %q event", want)
		}
	}
	var watched []watch.EventType
	for len(watched) < 4 {
		select {
		case ev := <-w.ResultChan():
			if c, ok := ev.Object.(*v1alpha1.Cluster); ok && c.Name == "typed" {
				watched = append(watched, ev.Type)
			}
		case <-ctx.Done():
			t.Fatalf("watch: got only %v", watched)
		}
	}
	assert.Equal(t, []watch.EventType{watch.Added, watch.Modified, watch.Modified, watch.Deleted}, watched)

	// The lister serves from the cache.
	_, err = factory.Clusters().V1alpha1().Clusters().Lister().Get("typed")
	assert.True(t, apierrors.IsNotFound(err))
}

func containsCluster(items []v1alpha1.Cluster, name string) bool {
	for _, c := range items {
		if c.Name == name {
			return true
		}
	}
	return false
}

func TestServerSideApply(t *testing.T) {
	ctx := context.Background()
	applied := framework.Cluster{Name: "applied", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "applied-credentials"}
	framework.Kubectl(t, env, "host", framework.ClusterManifest(applied), "apply", "--server-side", "--field-manager=platform-team", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "applied", "--ignore-not-found")
	})

	// Another manager changing an owned field conflicts, and the message names the owner.
	applied.Provider = "aws"
	_, err := framework.TryKubectl(t, env, "host", framework.ClusterManifest(applied),
		"apply", "--server-side", "--field-manager=someone-else", "-f", "-")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "conflict")
	assert.Contains(t, err.Error(), "platform-team")

	// The typed client applies with the generated apply configurations.
	cs := client(t)
	ac := clusterac.Cluster("applied").WithSpec(clusterac.ClusterSpec().WithRegion("ap-south-1"))
	got, err := cs.ClustersV1alpha1().Clusters().Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "region-controller"})
	require.NoError(t, err)
	assert.Equal(t, "ap-south-1", got.Spec.Region)
	assert.Equal(t, "kwok", got.Spec.Provider, "fields of other managers stay")
	managers := map[string]bool{}
	for _, mf := range got.ManagedFields {
		managers[mf.Manager] = true
	}
	assert.True(t, managers["platform-team"] && managers["region-controller"], "managed fields: %v", managers)

	// Status applied through the main resource is dropped; through /status it sticks.
	st := clusterac.Cluster("applied").WithStatus(clusterac.ClusterStatus().WithKubernetesVersion("v9.9.9"))
	got, err = cs.ClustersV1alpha1().Clusters().Apply(ctx, st, metav1.ApplyOptions{FieldManager: "liar", Force: true})
	require.NoError(t, err)
	assert.Empty(t, got.Status.KubernetesVersion)
	got, err = cs.ClustersV1alpha1().Clusters().ApplyStatus(ctx, st, metav1.ApplyOptions{FieldManager: "prober", Force: true})
	require.NoError(t, err)
	assert.Equal(t, "v9.9.9", got.Status.KubernetesVersion)
}

func TestStatusSubresource(t *testing.T) {
	ctx := context.Background()
	cs := client(t)
	clusters := cs.ClustersV1alpha1().Clusters()
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "statusful", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "statusful-credentials"}), "create", "-f", "-")
	t.Cleanup(func() { _ = clusters.Delete(ctx, "statusful", metav1.DeleteOptions{}) })

	c, err := clusters.Get(ctx, "statusful", metav1.GetOptions{})
	require.NoError(t, err)
	now := metav1.Now()
	c.Status = v1alpha1.ClusterStatus{KubernetesVersion: "v1.36.3", NodeCount: 2, UID: "abc", LastProbeTime: &now,
		ObservedGeneration: 1, Zones: []string{"zone-a"},
		Conditions: []metav1.Condition{{Type: v1alpha1.ClusterReady, Status: metav1.ConditionTrue, Reason: "Healthy",
			Message: "/readyz answered ok", LastTransitionTime: now, ObservedGeneration: 1}}}
	c.Spec.Region = "changed-through-status"
	updated, err := clusters.UpdateStatus(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v1.36.3", updated.Status.KubernetesVersion)
	assert.Empty(t, updated.Spec.Region, "a status write does not change the spec")
	assert.Equal(t, int64(1), updated.Generation, "a status write does not bump the generation")

	// Status sent through the main resource is ignored.
	updated.Status.KubernetesVersion = "v0.0.1"
	updated.Spec.Provider = "gcp"
	again, err := clusters.Update(ctx, updated, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v1.36.3", again.Status.KubernetesVersion)
	assert.Equal(t, "gcp", again.Spec.Provider)

	// kubectl shows the status in the table.
	table := framework.Kubectl(t, env, "host", "", "get", "cluster", "statusful")
	assert.Regexp(t, `statusful\s+Direct\s+True\s+v1\.36\.3\s+2\s+`, table)
	assert.Equal(t, "v1.36.3", framework.Kubectl(t, env, "host", "", "get", "cluster", "statusful", "--subresource=status", "-o", "jsonpath={.status.kubernetesVersion}"))

	// An invalid status is refused with the field named.
	again.Status.Conditions[0].Status = "Perhaps"
	_, err = clusters.UpdateStatus(ctx, again, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "status.conditions[0].status")
	cond := meta.FindStatusCondition(again.Status.Conditions, v1alpha1.ClusterReady)
	assert.NotNil(t, cond)
}

func TestRBAC(t *testing.T) {
	ctx := context.Background()
	kubeconfig, err := env.IssueClientCert("host", "alice", "developers")
	require.NoError(t, err)
	framework.Kubectl(t, env, "host", framework.ClusterManifest(framework.Cluster{Name: "rbac-target", Provider: "kwok", Endpoint: "https://127.0.0.1:6443", Secret: "rbac-target-credentials"}), "create", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "cluster", "rbac-target", "--ignore-not-found")
	})

	alice, err := versioned.NewForConfig(framework.RESTConfig(t, kubeconfig, "host"))
	require.NoError(t, err)
	_, err = alice.ClustersV1alpha1().Clusters().List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "without RBAC: %v", err)
	assert.Contains(t, err.Error(), `User "alice" cannot list resource "clusters" in API group "clusters.kubesphere.io"`)
	_, err = env.KubectlAs(ctx, kubeconfig, "host", "", "get", "clusters")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Forbidden")

	framework.Kubectl(t, env, "host", "", "create", "clusterrole", "cluster-viewer", "--verb=get,list,watch", "--resource=clusters.clusters.kubesphere.io")
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "alice-cluster-viewer", "--clusterrole=cluster-viewer", "--user=alice")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding", "alice-cluster-viewer")
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrole", "cluster-viewer")
	})
	require.Eventually(t, func() bool {
		_, err := alice.ClustersV1alpha1().Clusters().List(ctx, metav1.ListOptions{})
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "a bound user can list clusters")
	out, err := env.KubectlAs(ctx, kubeconfig, "host", "", "get", "clusters", "rbac-target")
	require.NoError(t, err)
	assert.Contains(t, out, "rbac-target")

	// Read-only: writes are still refused, by the host's RBAC through delegation.
	err = alice.ClustersV1alpha1().Clusters().Delete(ctx, "rbac-target", metav1.DeleteOptions{})
	assert.True(t, apierrors.IsForbidden(err), "delete as viewer: %v", err)
}

func TestDataSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := client(t)
	created, err := cs.ClustersV1alpha1().Clusters().Create(ctx, &v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "durable", Labels: map[string]string{"keep": "me"}},
		Spec:       v1alpha1.ClusterSpec{Connection: v1alpha1.Connection{Type: v1alpha1.ConnectionAgent}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.ClustersV1alpha1().Clusters().Delete(context.Background(), "durable", metav1.DeleteOptions{})
	})

	oldPid := env.Pid("host-cluster-apiserver")
	require.NoError(t, env.StartClusterAPIServer(ctx))
	assert.NotEqual(t, oldPid, env.Pid("host-cluster-apiserver"), "a new process serves")

	// Through the aggregator, once it sees the new process.
	var got *v1alpha1.Cluster
	require.Eventually(t, func() bool {
		got, err = cs.ClustersV1alpha1().Clusters().Get(ctx, "durable", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 250*time.Millisecond, "cluster readable after restart: %v", err)
	assert.Equal(t, created.UID, got.UID)
	assert.Equal(t, created.ResourceVersion, got.ResourceVersion)
	assert.Equal(t, "me", got.Labels["keep"])
	raw, _ := json.Marshal(got.Spec)
	assert.JSONEq(t, `{"connection":{"type":"Agent"}}`, string(raw))
}
