package localenv

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"kubesphere.io/multicluster/apis/appstore"
	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/apis/federation"
	"kubesphere.io/multicluster/artifacts"
)

var hostSetup = template.Must(template.New("host").Parse(`
# The aggregator resolves an ExternalName service: Endpoints may not hold 127.0.0.1.
apiVersion: v1
kind: Service
metadata:
  name: cluster-apiserver
  namespace: {{.Namespace}}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: {{.Port}}, protocol: TCP}]
`))

// metricsReader binds MetricsReaderUser to the manifests' metrics ClusterRole.
var metricsReader = template.Must(template.New("metrics-reader").Parse(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubesphere:metrics-reader:{{.User}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubesphere:metrics-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
`))

var apiService = template.Must(template.New("apiservice").Parse(`
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.{{.Group}}
spec:
  group: {{.Group}}
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 100
  caBundle: {{.CABundle}}
  service:
    name: cluster-apiserver
    namespace: {{.Namespace}}
    port: {{.Port}}
`))

// setUpHost applies the manifests' namespaces and RBAC (artifacts/), the Service the
// aggregator reaches cluster-apiserver by, and MetricsReaderUser's binding.
func (e *Env) setUpHost(ctx context.Context) error {
	var docs []string
	for _, f := range artifacts.Host {
		b, err := artifacts.Base.ReadFile(f)
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	docs = append(docs, render(hostSetup, map[string]any{"Namespace": Namespace, "Port": e.Ports.ClusterAPIServer}),
		render(metricsReader, map[string]any{"User": MetricsReaderUser}))
	_, err := e.Kubectl(ctx, "host", strings.Join(docs, "\n---\n"), "apply", "--server-side", "--force-conflicts", "-f", "-")
	return err
}

// StartClusterAPIServer starts (or restarts) the registered cluster-apiserver, with its
// embedded etcd, and waits until it is ready.
func (e *Env) StartClusterAPIServer(ctx context.Context) error {
	_, err := e.StartExtraClusterAPIServer(ctx, "cluster-apiserver", e.Ports.ClusterAPIServer,
		append([]string{"--embedded-etcd-data-dir=" + filepath.Join(e.Dir, "data", "cluster-apiserver")}, e.ClusterAPIServerArgs...)...)
	return err
}

// StartExtraClusterAPIServer starts (or restarts) a cluster-apiserver process named
// host-<component> on port with the host's delegated authentication and the given storage
// flags, and returns its URL. The first one is the registered server; tests start more
// to check HA storage on an external etcd.
func (e *Env) StartExtraClusterAPIServer(ctx context.Context, component string, port int, storageArgs ...string) (string, error) {
	id := "host-" + component
	if err := e.Stop(id); err != nil {
		return "", err
	}
	policy := filepath.Join(e.Dir, "pki", "audit-policy.yaml")
	auditPolicy, err := artifacts.AuditPolicy()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(policy, auditPolicy, 0o644); err != nil {
		return "", err
	}
	s := e.pki.serving["host-cluster-apiserver"]
	kubeconfig := e.componentKubeconfig("host-cluster-apiserver")
	args := append([]string{
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + s.cert, "--tls-private-key-file=" + s.key,
		"--kubeconfig=" + kubeconfig, "--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--audit-policy-file=" + policy, "--audit-log-path=" + e.LogFile(id+"-audit"),
		"--audit-log-maxsize=100", "--audit-log-maxbackup=1",
		// Batch: events are written by a background worker, not on the request path (the
		// ResponseStarted event of every proxied request is written before its first byte).
		"--audit-log-mode=batch",
	}, append(e.towerDialerArgs(), storageArgs...)...)
	if err := e.startWithEnv(installedGOMAXPROCS(), "host", component, "cluster-apiserver", args...); err != nil {
		return "", err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	return url, e.waitReady(ctx, id, url+"/readyz", 90*time.Second)
}

func (e *Env) registerAPIService(ctx context.Context) error {
	ca, err := os.ReadFile(e.pki.cas["host"].CertFile)
	if err != nil {
		return err
	}
	// One APIService per group cluster-apiserver serves, as artifacts/base/apiservice.yaml.
	for _, group := range []string{clustersapi.GroupName, appstore.GroupName, federation.GroupName} {
		name := "v1alpha1." + group
		if _, err := e.Kubectl(ctx, "host", render(apiService, map[string]any{
			"Group": group, "Namespace": Namespace, "Port": e.Ports.ClusterAPIServer,
			"CABundle": base64.StdEncoding.EncodeToString(ca),
		}), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, "host", "", "wait", "--for=condition=Available", "apiservice/"+name, "--timeout=90s"); err != nil {
			status, _ := e.Kubectl(ctx, "host", "", "get", "apiservice", name, "-o", "jsonpath={.status.conditions}")
			return fmt.Errorf("%w\nAPIService status: %s\nlast lines of %s:\n%s", err, status,
				e.LogFile("host-cluster-apiserver"), e.logTail("host-cluster-apiserver", 30))
		}
		e.logf("APIService %s is Available", name)
	}
	return nil
}
