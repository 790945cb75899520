package localenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kubesphere.io/multicluster/artifacts"
	"kubesphere.io/multicluster/pkg/join"
)

// Identities the environment gives to the project's components.
const (
	// ClusterAPIServerUser is cluster-apiserver's user on the host: its client
	// certificate carries the name of the ServiceAccount the manifests (artifacts/) bind,
	// so the environment runs on exactly their RBAC.
	ClusterAPIServerUser = "system:serviceaccount:kubesphere-system:cluster-apiserver"
	// ClusterProxyUser is the user the host's credentials Secret holds on each member: it
	// may only impersonate (and read what health checks need).
	ClusterProxyUser = "system:kubesphere:cluster-proxy"
	// ControllerManagerUser is controller-manager's user on the host, named like
	// ClusterAPIServerUser after its ServiceAccount in artifacts/.
	ControllerManagerUser = "system:serviceaccount:kube-federation-system:controller-manager"
	// TowerProxyUser is the tower proxies' user on the host, after their ServiceAccount.
	TowerProxyUser = "system:serviceaccount:kubesphere-system:tower-proxy"
	// ControllerManagerNamespace holds controller-manager's leader-election Lease.
	ControllerManagerNamespace = "kube-federation-system"
	// DeveloperUser is a non-admin host user that may use clusters/proxy on the first
	// member only, and has view rights there (edit in its default namespace).
	DeveloperUser = "developer"
	// MetricsReaderUser is a host user bound to the manifests' ClusterRole
	// kubesphere:metrics-reader, as an install binds Prometheus: tests scrape as it.
	MetricsReaderUser = "metrics-reader"
	// Namespace is where the control plane's objects live on the host.
	Namespace = "kubesphere-system"
	// APIServiceName registers cluster-apiserver with the host's aggregator.
	APIServiceName = "v1alpha1.clusters.kubesphere.io"
)

type pair struct{ cert, key string }

type pki struct {
	cas map[string]*ca
	// serving certificates by component id, admin client certificates by cluster.
	serving map[string]pair
	admin   map[string]pair
	sa      map[string]pair
	client  map[string]pair
}

func (e *Env) makePKI() (*pki, error) {
	dir := filepath.Join(e.Dir, "pki")
	p := &pki{cas: map[string]*ca{}, serving: map[string]pair{}, admin: map[string]pair{}, sa: map[string]pair{}, client: map[string]pair{}}
	var err error
	// One CA per cluster: a host certificate is worth nothing on a member, and back.
	for _, c := range append([]string{"host", "front-proxy"}, e.Members...) {
		if p.cas[c], err = loadOrCreateCA(dir, c+"-ca"); err != nil {
			return nil, err
		}
	}
	issue := func(caName, file, cn string, orgs, dns []string, serving bool) (pair, error) {
		c, k, err := p.cas[caName].issue(dir, file, cn, orgs, dns, serving)
		return pair{c, k}, err
	}
	steps := []func() error{}
	for _, c := range append([]string{"host"}, e.Members...) {
		c := c
		steps = append(steps,
			func() (err error) {
				p.serving[c+"-kube-apiserver"], err = issue(c, c+"-kube-apiserver", c+"-kube-apiserver", nil,
					[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc"}, true)
				return err
			},
			func() (err error) {
				p.admin[c], err = issue(c, c+"-admin", "kubernetes-admin", []string{"system:masters"}, nil, false)
				return err
			},
			func() (err error) {
				var s pair
				s.cert, s.key, err = serviceAccountKey(dir, c+"-sa")
				p.sa[c] = s
				return err
			},
		)
	}
	for _, m := range e.Members {
		m := m
		steps = append(steps,
			func() (err error) {
				p.client[m+"-kube-controller-manager"], err = issue(m, m+"-kube-controller-manager", "system:kube-controller-manager", nil, nil, false)
				return err
			},
			func() (err error) {
				p.client[m+"-kube-scheduler"], err = issue(m, m+"-kube-scheduler", "system:kube-scheduler", nil, nil, false)
				return err
			},
			func() (err error) {
				p.client[m+"-kwok"], err = issue(m, m+"-kwok", "system:kwok", []string{"system:masters"}, nil, false)
				return err
			},
			func() (err error) {
				p.serving[m+"-kwok"], err = issue(m, m+"-kwok-serving", m+"-kwok", nil, nil, true)
				return err
			},
			func() (err error) {
				p.client[m+"-cluster-proxy"], err = issue(m, m+"-cluster-proxy", ClusterProxyUser, nil, nil, false)
				return err
			},
		)
	}
	steps = append(steps,
		func() (err error) {
			p.client["front-proxy-client"], err = issue("front-proxy", "front-proxy-client", "front-proxy-client", nil, nil, false)
			return err
		},
		func() (err error) {
			// The aggregator checks the name <service>.<namespace>.svc.
			p.serving["host-cluster-apiserver"], err = issue("host", "host-cluster-apiserver", "cluster-apiserver", nil,
				[]string{"cluster-apiserver." + Namespace + ".svc"}, true)
			return err
		},
		func() (err error) {
			p.client["host-cluster-apiserver"], err = issue("host", "host-cluster-apiserver-client", ClusterAPIServerUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-controller-manager"], err = issue("host", "host-controller-manager", ControllerManagerUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.serving["host-tower-proxy"], err = issue("host", "host-tower-proxy", "tower-proxy", nil,
				[]string{"tower-proxy." + Namespace + ".svc", "tower-proxy-replicas." + Namespace + ".svc"}, true)
			return err
		},
		func() (err error) {
			p.client["host-tower-proxy"], err = issue("host", "host-tower-proxy-client", TowerProxyUser, nil, nil, false)
			return err
		},
		func() (err error) {
			// The host registered as a cluster of its own (Env.RegisterHost) is reached
			// with the same least-privilege user as the members.
			p.client["host-cluster-proxy"], err = issue("host", "host-cluster-proxy", ClusterProxyUser, nil, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-"+DeveloperUser], err = issue("host", "host-developer", DeveloperUser, []string{"developers"}, nil, false)
			return err
		},
		func() (err error) {
			p.client["host-"+MetricsReaderUser], err = issue("host", "host-metrics-reader", MetricsReaderUser, nil, nil, false)
			return err
		},
		func() (err error) {
			// Signed by the host CA, so tests verify whom they scrape; an install makes a
			// self-signed one in memory.
			p.serving["host-controller-manager"], err = issue("host", "host-controller-manager-serving", "controller-manager", nil, nil, true)
			return err
		},
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// IssueClientCert issues a client certificate for user (with groups) on cluster and
// writes a kubeconfig for it; tests use it to act as non-admin users.
func (e *Env) IssueClientCert(cluster, user string, groups ...string) (kubeconfig string, err error) {
	return e.IssueClientCertValidFor(cluster, user, certValidity, groups...)
}

// IssueClientCertValidFor is IssueClientCert with a certificate that expires after
// validity (tests of expiry warnings).
func (e *Env) IssueClientCertValidFor(cluster, user string, validity time.Duration, groups ...string) (kubeconfig string, err error) {
	file := cluster + "-user-" + strings.NewReplacer(":", "_", "/", "_").Replace(user)
	if validity != certValidity {
		file += "-" + validity.String()
	}
	cert, key, err := e.pki.cas[cluster].issueFor(filepath.Join(e.Dir, "pki"), file, user, groups, nil, false, validity)
	if err != nil {
		return "", err
	}
	kubeconfig = filepath.Join(e.Dir, "pki", file+".kubeconfig")
	return kubeconfig, e.writeKubeconfig(kubeconfig, cluster, pair{cert, key})
}

func (e *Env) writeKubeconfig(path, cluster string, creds pair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: e.clusterURL(cluster), CertificateAuthority: e.pki.cas[cluster].CertFile}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{ClientCertificate: creds.cert, ClientKey: creds.key}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	cfg.CurrentContext = cluster
	return clientcmd.WriteToFile(*cfg, path)
}

// writeKubeconfigs writes the admin kubeconfig (a context per cluster) and one kubeconfig
// per component.
func (e *Env) writeKubeconfigs() error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range append([]string{"host"}, e.Members...) {
		cfg.Clusters[c] = &clientcmdapi.Cluster{Server: e.clusterURL(c), CertificateAuthority: e.pki.cas[c].CertFile}
		cfg.AuthInfos[c+"-admin"] = &clientcmdapi.AuthInfo{ClientCertificate: e.pki.admin[c].cert, ClientKey: e.pki.admin[c].key}
		cfg.Contexts[c] = &clientcmdapi.Context{Cluster: c, AuthInfo: c + "-admin"}
	}
	// <member>-via-host: the host's clusters/proxy path, as the host admin (and, for the
	// first member, as the developer).
	cfg.AuthInfos[DeveloperUser] = &clientcmdapi.AuthInfo{ClientCertificate: e.pki.client["host-"+DeveloperUser].cert, ClientKey: e.pki.client["host-"+DeveloperUser].key}
	for i, m := range e.Members {
		via := m + "-via-host"
		cfg.Clusters[via] = &clientcmdapi.Cluster{Server: e.ViaHostURL(m), CertificateAuthority: e.pki.cas["host"].CertFile}
		cfg.Contexts[via] = &clientcmdapi.Context{Cluster: via, AuthInfo: "host-admin"}
		if i == 0 {
			cfg.Contexts[via+"-"+DeveloperUser] = &clientcmdapi.Context{Cluster: via, AuthInfo: DeveloperUser}
		}
	}
	cfg.CurrentContext = "host"
	if err := clientcmd.WriteToFile(*cfg, e.Kubeconfig()); err != nil {
		return err
	}
	for id, creds := range e.pki.client {
		cluster := strings.SplitN(id, "-", 2)[0]
		if strings.HasPrefix(id, "front-proxy") || id == "host-"+DeveloperUser {
			continue
		}
		if err := e.writeKubeconfig(e.componentKubeconfig(id), cluster, creds); err != nil {
			return err
		}
	}
	return nil
}

// PodLogFile is the file every pod of member m logs from (CRI format); appending a line
// shows up in kubectl logs -f.
func (e *Env) PodLogFile(m string) string {
	return filepath.Join(e.Dir, "data", m+"-pods.log")
}

// ViaHostURL is member m reached through the host kube-apiserver's clusters/proxy path.
func (e *Env) ViaHostURL(m string) string {
	return e.HostURL() + "/apis/clusters.kubesphere.io/v1alpha1/clusters/" + m + "/proxy"
}

// DirectPathURL is member m reached through cluster-apiserver's own /clusters/ path.
func (e *Env) DirectPathURL(m string) string {
	return e.ClusterAPIServerURL() + "/clusters/" + m
}

func (e *Env) componentKubeconfig(id string) string {
	return filepath.Join(e.Dir, "pki", id+".kubeconfig")
}

func (e *Env) startKubeAPIServer(cluster string) error {
	p := e.pki
	s := p.serving[cluster+"-kube-apiserver"]
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(e.Ports.Etcd),
		"--etcd-prefix=/" + cluster, // one etcd serves every cluster
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.portOf(cluster)),
		"--tls-cert-file=" + s.cert, "--tls-private-key-file=" + s.key,
		"--client-ca-file=" + p.cas[cluster].CertFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p.sa[cluster].cert,
		"--service-account-signing-key-file=" + p.sa[cluster].key,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// Endpoints may not hold 127.0.0.1; nothing in these clusters calls the service.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
	}
	if cluster == "host" {
		fp := p.client["front-proxy-client"]
		args = append(args,
			"--requestheader-client-ca-file="+p.cas["front-proxy"].CertFile,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-uid-headers=X-Remote-Uid",
			"--proxy-client-cert-file="+fp.cert, "--proxy-client-key-file="+fp.key)
	}
	return e.start(cluster, "kube-apiserver", "kube-apiserver", args...)
}

// StartKubeAPIServer (re)starts the kube-apiserver of cluster ("host" or a member) and
// waits until it is ready: tests stop a member's API server and bring it back.
func (e *Env) StartKubeAPIServer(ctx context.Context, cluster string) error {
	if err := e.Stop(cluster + "-kube-apiserver"); err != nil {
		return err
	}
	if err := e.startKubeAPIServer(cluster); err != nil {
		return err
	}
	return e.waitReady(ctx, cluster+"-kube-apiserver", e.clusterURL(cluster)+"/readyz", 120*time.Second)
}

func (e *Env) portOf(cluster string) int {
	if cluster == "host" {
		return e.Ports.Host
	}
	return e.Ports.Members[cluster]
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
	if err := e.start(m, "kube-scheduler", "kube-scheduler",
		"--kubeconfig="+e.componentKubeconfig(m+"-kube-scheduler"),
		"--secure-port=0", "--leader-elect=false"); err != nil {
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
  name: {{.Name}}
spec:
  group: clusters.kubesphere.io
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 100
  caBundle: {{.CABundle}}
  service:
    name: cluster-apiserver
    namespace: {{.Namespace}}
    port: {{.Port}}
`))

func render(t *template.Template, data any) string {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		panic(err)
	}
	return b.String()
}

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
		"--embedded-etcd-data-dir="+filepath.Join(e.Dir, "data", "cluster-apiserver"))
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
	// As an install runs it: as many scheduler threads as its CPU limit.
	maxProcs, err := artifacts.ClusterAPIServerGOMAXPROCS()
	if err != nil {
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
	if err := e.startWithEnv([]string{"GOMAXPROCS=" + strconv.Itoa(maxProcs)}, "host", component, "cluster-apiserver", args...); err != nil {
		return "", err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	return url, e.waitReady(ctx, id, url+"/readyz", 90*time.Second)
}

// StartControllerManager starts (or restarts) a controller-manager replica named
// host-<component>, waits until its secure port answers /healthz and until every member's
// Cluster shows Ready=True, which only the leader writes. Tests start a second replica to
// see the standby take over.
func (e *Env) StartControllerManager(ctx context.Context, component string) error {
	id := "host-" + component
	if err := e.Stop(id); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// Delegated authentication and authorization go to the host with --kubeconfig, the
	// manifests' ServiceAccount's identity (system:auth-delegator, via artifacts/).
	s := e.pki.serving["host-controller-manager"]
	if err := e.start("host", component, "controller-manager", append([]string{
		"--kubeconfig=" + e.componentKubeconfig("host-controller-manager"),
		"--leader-elect-resource-namespace=" + ControllerManagerNamespace,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + s.cert, "--tls-private-key-file=" + s.key}, e.towerDialerArgs()...)...); err != nil {
		return err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	e.mu.Lock()
	e.metrics[id] = url
	e.mu.Unlock()
	if err := e.waitReady(ctx, id, url+"/healthz", 30*time.Second); err != nil {
		return err
	}
	return e.waitClustersReady(ctx, id, 60*time.Second)
}

// ControllerManagerURL is the HTTPS base URL of the /metrics, /healthz, /livez and /readyz
// of a controller-manager replica this Env started (id host-<component>), or "". Its
// certificate is signed by the host CA; /metrics needs a permitted caller (MetricsClient).
func (e *Env) ControllerManagerURL(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.metrics[id]
}

// ControllerManagers are the ids of the controller-manager replicas this Env started
// that have not been stopped, sorted.
func (e *Env) ControllerManagers() []string {
	e.mu.Lock()
	ids := make([]string, 0, len(e.metrics))
	for id := range e.metrics {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	ids = slices.DeleteFunc(ids, func(id string) bool { return e.Pid(id) == 0 })
	slices.Sort(ids)
	return ids
}

// MetricsClient is an HTTPS client that trusts the environment's CAs and presents
// MetricsReaderUser's client certificate: it may scrape /metrics and nothing else.
func (e *Env) MetricsClient() (*http.Client, error) {
	creds := e.pki.client["host-"+MetricsReaderUser]
	cert, err := tls.LoadX509KeyPair(creds.cert, creds.key)
	if err != nil {
		return nil, fmt.Errorf("%s's client certificate: %w", MetricsReaderUser, err)
	}
	client := e.httpClient()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	return client, nil
}

func (e *Env) waitClustersReady(ctx context.Context, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		out, err := e.Kubectl(ctx, "host", "", "get", "clusters", "-o",
			`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
		last = out
		if err == nil {
			ready := 0
			want := e.joined()
			if e.RegisterHost {
				want = append(want, "host")
			}
			for _, m := range want {
				if strings.Contains(" "+out, " "+m+"=True ") {
					ready++
				}
			}
			if ready == len(want) {
				e.logf("every member is Ready")
				return nil
			}
		}
		if pid := e.Pid(id); pid != 0 && e.exitedNow(pid) {
			return fmt.Errorf("%s exited; last lines of %s:\n%s", id, e.LogFile(id), e.logTail(id, 40))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("members not Ready after %s (%s); last lines of %s:\n%s", timeout, last, e.LogFile(id), e.logTail(id, 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// EtcdURL is the shared etcd the kube-apiservers use.
func (e *Env) EtcdURL() string { return "http://127.0.0.1:" + strconv.Itoa(e.Ports.Etcd) }

// CAFile is the CA certificate of a cluster (host, member1, ...).
func (e *Env) CAFile(cluster string) string { return e.pki.cas[cluster].CertFile }

func (e *Env) registerAPIService(ctx context.Context) error {
	ca, err := os.ReadFile(e.pki.cas["host"].CertFile)
	if err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, "host", render(apiService, map[string]any{
		"Name": APIServiceName, "Namespace": Namespace, "Port": e.Ports.ClusterAPIServer,
		"CABundle": base64.StdEncoding.EncodeToString(ca),
	}), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, "host", "", "wait", "--for=condition=Available", "apiservice/"+APIServiceName, "--timeout=90s"); err != nil {
		status, _ := e.Kubectl(ctx, "host", "", "get", "apiservice", APIServiceName, "-o", "jsonpath={.status.conditions}")
		return fmt.Errorf("%w\nAPIService status: %s\nlast lines of %s:\n%s", err, status,
			e.LogFile("host-cluster-apiserver"), e.logTail("host-cluster-apiserver", 30))
	}
	e.logf("APIService %s is Available", APIServiceName)
	return nil
}

// memberSetup lets the host's credential on member (user) do what the proxy needs: the
// same ClusterRole join creates, bound to the environment's certificate user.
func memberSetup(user string) (string, error) {
	role, err := json.Marshal(join.ProxyClusterRole())
	if err != nil {
		return "", err
	}
	binding, err := json.Marshal(join.ProxyClusterRoleBinding(rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}))
	if err != nil {
		return "", err
	}
	return string(role) + "\n---\n" + string(binding) + "\n", nil
}

var memberRegistration = template.Must(template.New("cluster").Parse(`
apiVersion: v1
kind: Secret
metadata:
  name: {{.Name}}-credentials
  namespace: {{.Namespace}}
type: Opaque
data:
  kubeconfig: {{.Kubeconfig}}
---
apiVersion: clusters.kubesphere.io/v1alpha1
kind: Cluster
metadata:
  name: {{.Name}}
{{- if .Host}}
  labels: {"cluster-role.kubesphere.io/host": ""}
{{- end}}
spec:
  provider: local
  region: local
  connection:
    type: Direct
    kubernetesAPIEndpoint: {{.Endpoint}}
    caBundle: {{.CABundle}}
    credentialsSecretRef:
      namespace: {{.Namespace}}
      name: {{.Name}}-credentials
`))

// registerMember gives the host a least-privilege credential on member m and registers m
// as a Direct Cluster.
func (e *Env) registerMember(ctx context.Context, m string) error {
	setup, err := memberSetup(ClusterProxyUser)
	if err != nil {
		return err
	}
	if _, err := e.Kubectl(ctx, m, setup,
		"apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	// The Secret holds a self-contained kubeconfig: certificate data inline, no file paths.
	creds := e.pki.client[m+"-cluster-proxy"]
	cfg, err := clientcmd.LoadFromFile(e.componentKubeconfig(m + "-cluster-proxy"))
	if err != nil {
		return err
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return fmt.Errorf("%s credentials (%s): %w", m, creds.cert, err)
	}
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(e.pki.cas[m].CertFile)
	if err != nil {
		return err
	}
	if m == e.Members[0] {
		if err := e.grantDeveloper(ctx, m); err != nil {
			return err
		}
	}
	_, err = e.Kubectl(ctx, "host", render(memberRegistration, map[string]any{
		"Name": m, "Namespace": Namespace, "Endpoint": e.clusterURL(m), "Host": m == "host",
		"Kubeconfig": base64.StdEncoding.EncodeToString(kubeconfig),
		"CABundle":   base64.StdEncoding.EncodeToString(ca),
	}), "apply", "--server-side", "--force-conflicts", "-f", "-")
	if err == nil {
		e.logf("registered %s as a Direct cluster", m)
	}
	return err
}

var developerOnHost = template.Must(template.New("dev-host").Parse(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubesphere:use-{{.Member}}
rules:
- apiGroups: [clusters.kubesphere.io]
  resources: [clusters]
  verbs: [get, list, watch]
- apiGroups: [clusters.kubesphere.io]
  resources: [clusters/proxy]
  resourceNames: [{{.Member}}]
  verbs: [get, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubesphere:use-{{.Member}}:{{.User}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubesphere:use-{{.Member}}}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
`))

var developerOnMember = template.Must(template.New("dev-member").Parse(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{.User}}:view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{.User}}:edit
  namespace: default
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
`))

// grantDeveloper lets the developer use member m through the host, and on m view
// everything and edit the default namespace: the member's own RBAC judges the
// impersonated user.
func (e *Env) grantDeveloper(ctx context.Context, m string) error {
	data := map[string]any{"Member": m, "User": DeveloperUser}
	if _, err := e.Kubectl(ctx, "host", render(developerOnHost, data), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	_, err := e.Kubectl(ctx, m, render(developerOnMember, data), "apply", "--server-side", "--force-conflicts", "-f", "-")
	return err
}

// Kubectl runs the pinned kubectl against a context of the admin kubeconfig, with stdin.
func (e *Env) Kubectl(ctx context.Context, kubeContext, stdin string, args ...string) (string, error) {
	return e.KubectlAs(ctx, e.Kubeconfig(), kubeContext, stdin, args...)
}

// KubectlAs runs the pinned kubectl with another kubeconfig (for example a non-admin user).
func (e *Env) KubectlAs(ctx context.Context, kubeconfig, kubeContext, stdin string, args ...string) (string, error) {
	cmd := e.KubectlCmd(ctx, kubeconfig, kubeContext, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// KubectlCmd is the pinned kubectl with a kubeconfig and context, not yet started: for
// commands that stream (logs -f, port-forward) or need their own environment.
func (e *Env) KubectlCmd(ctx context.Context, kubeconfig, kubeContext string, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig=" + kubeconfig}, args...)
	if kubeContext != "" {
		full = append([]string{"--context=" + kubeContext}, full...)
	}
	return exec.CommandContext(ctx, filepath.Join(e.BinDir, "kubectl"), full...)
}
