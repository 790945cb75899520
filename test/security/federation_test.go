package security

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// fedUser places objects from host namespace default and may use member1.
const fedUser = "security-fed-user"

// TestFederationControllerImpersonation: controller-manager's credential (its ServiceAccount
// token, nothing else) impersonates a federated object's recorded requester on
// cluster-apiserver's proxy paths and nowhere else: not a user who federated nothing (an App
// Store requester included), not off the proxy path, not through the host; and
// appstore-controller cannot act as federation's requesters.
func TestFederationControllerImpersonation(t *testing.T) {
	ctx := testContext(t)
	grant := fmt.Sprintf(`{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "security-fed-user", "namespace": "default"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubesphere:federation-user"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "security-fed-use-member1"},
   "rules": [{"apiGroups": ["clusters.kubesphere.io"], "resources": ["clusters/proxy"], "resourceNames": ["member1"], "verbs": ["get", "create", "delete"]}]},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "security-fed-use-member1"},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "security-fed-use-member1"},
   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": %[1]q}]}]}`, fedUser)
	framework.Kubectl(t, env, "host", grant, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", grant, "delete", "-f", "-") })
	framework.Kubectl(t, env, "member1", "", "create", "clusterrolebinding", "security-fed-view", "--clusterrole=view", "--user="+fedUser)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "member1", "", "delete", "clusterrolebinding", "security-fed-view")
	})

	// The user federates a ConfigMap onto member1: from now on a recorded requester.
	user := client(t, userCert(t, fedUser, "fed-team"), "")
	fo := `{"apiVersion":"federation.kubesphere.io/v1alpha1","kind":"FederatedObject","metadata":{"name":"sec-fed","namespace":"default"},
"spec":{"template":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sec-fed"},"data":{"a":"b"}},"placement":{"clusters":["member1"]}}}`
	foAPI := "/apis/federation.kubesphere.io/v1alpha1/namespaces/default/federatedobjects"
	code, body := do(t, user, "POST", env.HostURL()+foAPI, fo, http.Header{"Content-Type": {"application/json"}})
	require.Equal(t, http.StatusCreated, code, body)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "fo", "sec-fed", "-n", "default", "--wait=false", "--ignore-not-found")
		_, _ = framework.TryKubectl(t, env, "host", "", "patch", "fo", "sec-fed", "-n", "default", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	})
	token := func(sa string) *http.Client {
		out, err := env.Kubectl(ctx, "host", "", "create", "token", sa, "-n", localenv.ControllerManagerNamespace)
		require.NoError(t, err)
		return client(t, nil, strings.TrimSpace(out))
	}
	controller := token("controller-manager")
	as := func(u string, groups ...string) http.Header {
		h := http.Header{"Impersonate-User": {u}}
		if len(groups) > 0 {
			h["Impersonate-Group"] = groups
		}
		return h
	}
	namespaces := "/api/v1/namespaces"
	// Positive control: as the requester, on member1, through cluster-apiserver's own path.
	require.Eventually(t, func() bool {
		code, _ := do(t, controller, "GET", env.DirectPathURL("member1")+namespaces, "", as(fedUser, "fed-team", "system:authenticated"))
		return code == http.StatusOK
	}, 30*time.Second, 250*time.Millisecond, "the controller acts as the requester on member1")

	const class = "federation controller"
	for name, h := range map[string]http.Header{
		"a user who federated nothing":      as("admin"),
		"an App Store requester":            as(localenv.DeveloperUser, "developers"),
		"system:masters":                    as(fedUser, "system:masters"),
		"a group the requester was not in":  as(fedUser, "fed-team", "admins"),
		"a uid the requester has not":       {"Impersonate-User": {fedUser}, "Impersonate-Uid": {"0"}},
		"a service account of kube-system":  as("system:serviceaccount:kube-system:default"),
		"a node":                            as("system:node:member1-node-0"),
		"anyone, through the host's path":   as(fedUser, "fed-team"),
		"the requester off the proxy paths": as(fedUser, "fed-team"),
	} {
		url := env.DirectPathURL("member1") + namespaces
		switch name {
		case "anyone, through the host's path":
			url = env.ViaHostURL("member1") + namespaces
		case "the requester off the proxy paths":
			url = env.HostURL() + "/api/v1/namespaces/kubesphere-system/secrets"
		}
		probe(t, class, name, func() error { return denied(do(t, controller, "GET", url, "", h)) })
	}
	probe(t, class, "the requester on a cluster they may not use", func() error {
		return denied(do(t, controller, "GET", env.DirectPathURL("member2")+namespaces, "", as(fedUser, "fed-team")))
	})
	probe(t, class, "a federated object written as the requester", func() error {
		return denied(do(t, controller, "POST", env.ClusterAPIServerURL()+foAPI, strings.Replace(fo, "sec-fed", "sec-fed-2", 2),
			http.Header{"Content-Type": {"application/json"}, "Impersonate-User": {fedUser}}))
	})
	probe(t, class, "member1 as itself", func() error {
		return denied(do(t, controller, "GET", env.DirectPathURL("member1")+namespaces, "", nil))
	})
	// One kind's holder is not another's: appstore-controller may not act as federation's
	// requester.
	probe(t, class, "appstore-controller as a federation requester", func() error {
		return denied(do(t, token("appstore-controller"), "GET", env.DirectPathURL("member1")+namespaces, "", as(fedUser, "fed-team")))
	})
}
