package integration

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"kubesphere.io/multicluster/artifacts"
)

// kustomize builds a kustomization under artifacts/ with the pinned kubectl.
func kustomize(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := env.Kubectl(ctx, "host", "", "kustomize", filepath.Join("..", "..", "artifacts", dir))
	require.NoError(t, err)
	return out
}

// The manifests stay valid: the host accepts every object of the base and of the HA
// overlay (server-side dry run: workloads need images this machine does not have). Their
// namespaces and RBAC are applied for real by the environment itself, which runs on them.
func TestManifestsApply(t *testing.T) {
	for _, dir := range []string{"base", "overlays/ha", "overlays/no-app-store"} {
		t.Run(dir, func(t *testing.T) {
			objects := kustomize(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := env.Kubectl(ctx, "host", objects, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-")
			require.NoError(t, err)
			for _, want := range []string{
				"statefulset.apps/cluster-apiserver", "deployment.apps/controller-manager",
				"apiservice.apiregistration.k8s.io/v1alpha1.clusters.kubesphere.io",
				"poddisruptionbudget.policy/controller-manager", "service/cluster-apiserver",
				"deployment.apps/tower-proxy", "service/tower-proxy", "service/tower-proxy-replicas", "poddisruptionbudget.policy/tower-proxy",
			} {
				assert.Contains(t, out, want)
			}
			if dir == "overlays/no-app-store" {
				assert.NotContains(t, out, "deployment.apps/appstore-controller", "nothing of the App Store runs")
			} else {
				assert.Contains(t, out, "deployment.apps/appstore-controller")
				assert.Contains(t, out, "poddisruptionbudget.policy/appstore-controller")
			}
			if dir == "overlays/ha" {
				assert.Contains(t, objects, "--etcd-servers=")
				assert.Contains(t, out, "poddisruptionbudget.policy/cluster-apiserver")
			}
		})
	}
}

// controller-manager and tower proxy run with the seed's resources, two replicas each,
// and a liveness probe.
func TestManifestsDeployments(t *testing.T) {
	for name, want := range map[string][4]string{
		"controller-manager": {"100m", "64Mi", "500m", "512Mi"},
		"tower-proxy":        {"100m", "128Mi", "500m", "256Mi"},
	} {
		var d appsv1.Deployment
		for _, doc := range strings.Split(kustomize(t, "base"), "\n---\n") {
			if strings.Contains(doc, "kind: Deployment") && strings.Contains(doc, "name: "+name+"\n") {
				require.NoError(t, yaml.Unmarshal([]byte(doc), &d))
			}
		}
		require.Equal(t, name, d.Name)
		assert.EqualValues(t, 2, *d.Spec.Replicas, name)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, want[0], c.Resources.Requests.Cpu().String(), name)
		assert.Equal(t, want[1], c.Resources.Requests.Memory().String(), name)
		assert.Equal(t, want[2], c.Resources.Limits.Cpu().String(), name)
		assert.Equal(t, want[3], c.Resources.Limits.Memory().String(), name)
		require.NotNil(t, c.LivenessProbe, name)
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, name)
		assert.Equal(t, corev1.URISchemeHTTPS, c.LivenessProbe.HTTPGet.Scheme, name)
		if name == "controller-manager" {
			// /metrics on the secure port, reachable from Prometheus and the kubelet; the
			// probe on that port.
			assert.Contains(t, c.Args, "--bind-address=0.0.0.0")
			for _, a := range c.Args {
				assert.NotContains(t, a, "--metrics-bind-address", "the plain HTTP flag is gone")
			}
			require.Len(t, c.Ports, 1)
			assert.Contains(t, c.Args, "--secure-port="+strconv.Itoa(int(c.Ports[0].ContainerPort)))
			assert.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port.String())
		}
	}
}

// TestManifestsMetricsReader: the ClusterRole a scraper is bound to grants get on /metrics
// and nothing else.
func TestManifestsMetricsReader(t *testing.T) {
	var role rbacv1.ClusterRole
	for _, doc := range strings.Split(kustomize(t, "base"), "\n---\n") {
		if strings.Contains(doc, "kind: ClusterRole\n") && strings.Contains(doc, "name: kubesphere:metrics-reader\n") {
			require.NoError(t, yaml.Unmarshal([]byte(doc), &role))
		}
	}
	require.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, role.Rules)
}

// Least privilege: what the manifests' ServiceAccounts may and may not do on the host.
func TestManifestsLeastPrivilege(t *testing.T) {
	can := func(sa string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := env.Kubectl(ctx, "host", "", append([]string{"auth", "can-i", "--as=" + sa}, args...)...)
		return strings.TrimSpace(out)
	}
	const cm = "system:serviceaccount:kube-federation-system:controller-manager"
	const cas = "system:serviceaccount:kubesphere-system:cluster-apiserver"
	const tower = "system:serviceaccount:kubesphere-system:tower-proxy"
	for _, c := range []struct {
		sa   string
		args []string
		want string
	}{
		{cm, []string{"update", "clusters.clusters.kubesphere.io/status"}, "yes"},
		{cm, []string{"update", "clusters.clusters.kubesphere.io"}, "yes"},
		{cm, []string{"delete", "clusters.clusters.kubesphere.io"}, "no"},
		{cm, []string{"create", "clusters.clusters.kubesphere.io"}, "no"},
		{cm, []string{"delete", "secrets", "-n", "kubesphere-system"}, "yes"},
		{cm, []string{"get", "secrets", "-n", "kube-system"}, "no"},
		{cm, []string{"update", "leases", "-n", "kube-federation-system"}, "yes"},
		{cm, []string{"update", "leases", "-n", "kube-system"}, "no"},
		// Delegated authentication and authorization of /metrics callers.
		{cm, []string{"create", "tokenreviews.authentication.k8s.io"}, "yes"},
		{cm, []string{"create", "subjectaccessreviews.authorization.k8s.io"}, "yes"},
		{cm, []string{"get", "configmaps/extension-apiserver-authentication", "-n", "kube-system"}, "yes"},
		{cm, []string{"get", "configmaps/kubeadm-config", "-n", "kube-system"}, "no"},
		{cm, []string{"get", "/metrics"}, "no"},
		{cas, []string{"watch", "secrets", "-n", "kubesphere-system"}, "yes"},
		{cas, []string{"get", "secrets", "-n", "default"}, "no"},
		{cas, []string{"delete", "secrets", "-n", "kubesphere-system"}, "no"},
		{cas, []string{"create", "tokenreviews.authentication.k8s.io"}, "yes"},
		{cas, []string{"create", "pods", "-n", "kube-system"}, "no"},
		{tower, []string{"watch", "secrets", "-n", "kubesphere-system"}, "yes"},
		{tower, []string{"get", "secrets", "-n", "kubesphere-system"}, "no"},
		{tower, []string{"list", "secrets", "-n", "kube-system"}, "no"},
		{tower, []string{"create", "tokenreviews.authentication.k8s.io"}, "yes"},
		{tower, []string{"list", "clusters.clusters.kubesphere.io"}, "no"},
	} {
		assert.Equal(t, c.want, can(c.sa, c.args...), "%s: can-i %v", c.sa, c.args)
	}
}

// An install audits every request, proxied ones included, as the local environment does:
// the StatefulSet mounts the policy of cluster-apiserver-audit.yaml and writes the log,
// off the request's path, to standard output; the policy records who used which member
// (Metadata) and leaves health checks out.
func TestManifestsAudit(t *testing.T) {
	built := kustomize(t, "base")
	sts := clusterAPIServerStatefulSet(t, built)
	var cm corev1.ConfigMap
	for _, doc := range strings.Split(built, "\n---\n") {
		if strings.Contains(doc, "kind: ConfigMap") && strings.Contains(doc, "name: cluster-apiserver-audit-policy\n") {
			require.NoError(t, yaml.Unmarshal([]byte(doc), &cm))
		}
	}
	c := sts.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--audit-log-path=-", "--audit-log-mode=batch"} {
		assert.Contains(t, c.Args, want)
	}
	var policyFile string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--audit-policy-file="); ok {
			policyFile = v
		}
	}
	require.NotEmpty(t, policyFile, "no --audit-policy-file in %v", c.Args)
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(policyFile) {
			volume = m.Name
		}
	}
	require.NotEmpty(t, volume, "nothing is mounted at %s", filepath.Dir(policyFile))
	mounted := ""
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			mounted = v.ConfigMap.Name
		}
	}
	require.Equal(t, cm.Name, mounted, "the policy's volume")

	want, err := artifacts.AuditPolicy()
	require.NoError(t, err)
	require.Equal(t, string(want), cm.Data[filepath.Base(policyFile)], "the local environment's policy is the install's")
	p, err := policy.LoadPolicyFromBytes(want)
	require.NoError(t, err)
	rules := policy.NewPolicyRuleEvaluator(p)
	developer := &user.DefaultInfo{Name: "developer", Groups: []string{"system:authenticated"}}
	proxied := authorizer.AttributesRecord{User: developer, Verb: "get", APIGroup: "clusters.kubesphere.io", APIVersion: "v1alpha1",
		Resource: "clusters", Subresource: "proxy", Name: "member1", ResourceRequest: true, Path: "/clusters/member1/api/v1/pods"}
	assert.Equal(t, auditinternal.LevelMetadata, rules.EvaluatePolicyRule(proxied).Level, "a proxied request")
	readyz := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "system:anonymous"}, Verb: "get", Path: "/readyz"}
	assert.Equal(t, auditinternal.LevelNone, rules.EvaluatePolicyRule(readyz).Level, "/readyz")
}

// TestManifestsGOMAXPROCS: in the install, single and HA, the relays (cluster-apiserver,
// tower proxy) run as many Go scheduler threads as their CPU limit, rounded up (GOMAXPROCS
// from limits.cpu by the Downward API; Go alone would run at least 2 under a limit of 1),
// which is artifacts.GOMAXPROCS; controller-manager and appstore-controller keep Go's
// default; and the local environment's cluster-apiserver runs with that number.
func TestManifestsGOMAXPROCS(t *testing.T) {
	for _, dir := range []string{"base", "overlays/ha"} {
		var containers []corev1.Container
		var workloads, owners []string // owners[i] runs containers[i]
		for _, doc := range strings.Split(kustomize(t, dir), "\n---\n") {
			// Deployments and StatefulSets alike hold their pods in spec.template.
			var w struct {
				Kind     string
				Metadata metav1.ObjectMeta
				Spec     struct{ Template corev1.PodTemplateSpec }
			}
			require.NoError(t, yaml.Unmarshal([]byte(doc), &w))
			if w.Kind != "Deployment" && w.Kind != "StatefulSet" {
				continue
			}
			for _, c := range w.Spec.Template.Spec.Containers {
				containers, owners = append(containers, c), append(owners, w.Metadata.Name)
			}
			workloads = append(workloads, w.Metadata.Name)
		}
		assert.ElementsMatch(t, []string{"cluster-apiserver", "controller-manager", "appstore-controller", "tower-proxy"}, workloads, "%s: the workloads", dir)
		for i, c := range containers {
			what := dir + ": " + c.Name
			// The controllers keep Go's default: their work is many waits in parallel.
			if owners[i] == "controller-manager" || owners[i] == "appstore-controller" {
				for _, e := range c.Env {
					assert.NotEqual(t, "GOMAXPROCS", e.Name, "%s: Go's default", what)
				}
				continue
			}
			var ref *corev1.ResourceFieldSelector
			for _, e := range c.Env {
				if e.Name == "GOMAXPROCS" && e.ValueFrom != nil {
					ref = e.ValueFrom.ResourceFieldRef
				}
			}
			require.NotNil(t, ref, "%s: GOMAXPROCS from a resource field", what)
			assert.Equal(t, "limits.cpu", ref.Resource, what)
			assert.Contains(t, []string{"", c.Name}, ref.ContainerName, "%s: its own limit", what)
			assert.Equal(t, "1", ref.Divisor.String(), "%s: the divisor", what)
			limit, ok := c.Resources.Limits[corev1.ResourceCPU]
			require.True(t, ok, "%s: a CPU limit", what)
			// The kubelet rounds a resourceFieldRef up: 500m over a divisor of 1 gives 1.
			threads := (limit.MilliValue() + 999) / 1000
			assert.EqualValues(t, artifacts.GOMAXPROCS, threads, "%s: GOMAXPROCS under a CPU limit of %s", what, limit.String())
		}
	}

	cfg, _ := direct(t, env.ClusterAPIServerURL())
	admin, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	resp, err := admin.Get(env.ClusterAPIServerURL() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Regexp(t, `(?m)^go_sched_gomaxprocs_threads `+strconv.Itoa(artifacts.GOMAXPROCS)+`$`, string(body), "the local cluster-apiserver's GOMAXPROCS")
}

// clusterAPIServerStatefulSet is the cluster-apiserver StatefulSet of kustomize's output.
func clusterAPIServerStatefulSet(t *testing.T, built string) appsv1.StatefulSet {
	t.Helper()
	var sts appsv1.StatefulSet
	for _, doc := range strings.Split(built, "\n---\n") {
		if strings.Contains(doc, "kind: StatefulSet") && strings.Contains(doc, "name: cluster-apiserver\n") {
			require.NoError(t, yaml.Unmarshal([]byte(doc), &sts))
		}
	}
	require.NotEmpty(t, sts.Spec.Template.Spec.Containers, "no cluster-apiserver StatefulSet with containers")
	return sts
}
