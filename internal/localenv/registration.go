package localenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"text/template"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
	"kubesphere.io/multicluster/pkg/join"
)

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
  labels: {"{{.HostLabel}}": ""}
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
		if err := e.GrantDeveloper(ctx, m); err != nil {
			return err
		}
	}
	_, err = e.Kubectl(ctx, "host", render(memberRegistration, map[string]any{
		"Name": m, "Namespace": Namespace, "Endpoint": e.clusterURL(m), "Host": m == "host", "HostLabel": clustersapi.HostClusterLabel,
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

// GrantDeveloper lets the developer use member m through the host, and on m view
// everything and edit the default namespace: the member's own RBAC judges the
// impersonated user. Up grants the first member; tests grant others.
func (e *Env) GrantDeveloper(ctx context.Context, m string) error {
	data := map[string]any{"Member": m, "User": DeveloperUser}
	if _, err := e.Kubectl(ctx, "host", render(developerOnHost, data), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return err
	}
	_, err := e.Kubectl(ctx, m, render(developerOnMember, data), "apply", "--server-side", "--force-conflicts", "-f", "-")
	return err
}
