package security

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/test/framework"
)

// clusterOperator may create, change and delete Clusters and use every cluster's proxy,
// but may not read Secrets: the finding was that such a user could borrow member1's
// credentials through a Cluster of their own and bypass the per-cluster gate on member1.
const clusterOperator = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: security-test:cluster-operator}
rules:
- apiGroups: [clusters.kubesphere.io]
  resources: [clusters]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [clusters.kubesphere.io]
  resources: [clusters/proxy]
  resourceNames: [borrow, leak, own]
  verbs: [get, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: security-test:cluster-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: security-test:cluster-operator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: operator}]
`

func TestClusterWritesCannotBorrowOrLeakCredentials(t *testing.T) {
	framework.Kubectl(t, env, "host", clusterOperator, "apply", "-f", "-")
	c := client(t, userCert(t, "operator"), "")
	json := http.Header{"Content-Type": {"application/json"}}
	for _, path := range []string{env.HostURL(), env.ClusterAPIServerURL()} {
		probe(t, "credential borrowing", "create a Cluster with member1's Secret via "+path, func() error {
			code, body := do(t, c, "POST", path+clustersAPI, framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member1"), Secret: "member1-credentials"}), json)
			if err := refused(code, body); err != nil {
				return err
			}
			if !strings.Contains(body, `may not get secrets \"member1-credentials\" in namespace \"kubesphere-system\"`) {
				return fmt.Errorf("refused (%d) without naming the missing right: %s", code, body)
			}
			return nil
		})
		probe(t, "credential borrowing", "create a Cluster with member2's token Secret via "+path, func() error {
			return refused(do(t, c, "POST", path+clustersAPI, framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member2"), Secret: "member2-agent-token"}), json))
		})
		probe(t, "credential borrowing", "create a Cluster with a Secret elsewhere via "+path, func() error {
			return refused(do(t, c, "POST", path+clustersAPI, framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member1"), Secret: "x", SecretNamespace: "kube-system"}), json))
		})
		// Leaking: sending member1's credentials to an address of the operator's choosing.
		for name, patch := range map[string]string{
			"endpoint": `{"spec":{"connection":{"kubernetesAPIEndpoint":"https://127.0.0.1:9"}}}`,
			"caBundle": `{"spec":{"connection":{"caBundle":null}}}`,
			"secret":   `{"spec":{"connection":{"credentialsSecretRef":{"namespace":"kubesphere-system","name":"member2-credentials"}}}}`,
		} {
			probe(t, "credential leaking", "re-point member1's "+name+" via "+path, func() error {
				return refused(do(t, c, "PATCH", path+clustersAPI+"/member1", patch, nil))
			})
		}
	}
	// The same through server-side apply (which creates through an update), a PUT, and
	// with dry-run, which must refuse what the write would.
	apply := http.Header{"Content-Type": {"application/apply-patch+yaml"}}
	for _, path := range []string{env.HostURL(), env.ClusterAPIServerURL()} {
		probe(t, "credential borrowing", "server-side apply creating borrow via "+path, func() error {
			return refused(do(t, c, "PATCH", path+clustersAPI+"/borrow?fieldManager=intruder", framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member1"), Secret: "member1-credentials"}), apply))
		})
		probe(t, "credential borrowing", "dry-run create of borrow via "+path, func() error {
			return refused(do(t, c, "POST", path+clustersAPI+"?dryRun=All", framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member1"), Secret: "member1-credentials"}), json))
		})
		probe(t, "credential leaking", "server-side apply re-pointing member1 via "+path, func() error {
			return refused(do(t, c, "PATCH", path+clustersAPI+"/member1?fieldManager=intruder&force=true", framework.ClusterManifest(framework.Cluster{Name: "member1", Endpoint: "https://127.0.0.1:9", Secret: "member1-credentials"}), apply))
		})
		probe(t, "credential leaking", "PUT re-pointing member1 via "+path, func() error {
			current := framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "json")
			replaced := strings.Replace(current, env.MemberURL("member1"), "https://127.0.0.1:9", 1)
			return refused(do(t, c, "PUT", path+clustersAPI+"/member1", replaced, json))
		})
		probe(t, "credential leaking", "status write carrying a connection via "+path, func() error {
			return refused(do(t, c, "PATCH", path+clustersAPI+"/member1/status", `{"status":{"uid":""},"spec":{"connection":{"kubernetesAPIEndpoint":"https://127.0.0.1:9"}}}`, nil))
		})
	}
	for _, path := range []string{env.ViaHostURL("borrow"), env.DirectPathURL("borrow")} {
		probe(t, "credential borrowing", "reach member1 through clusters/borrow", func() error {
			code, body := do(t, c, "GET", path+"/api/v1/namespaces/kube-system", "", nil)
			if strings.Contains(body, memberUID(t, "member1")) {
				return fmt.Errorf("member1 answered through borrow (%d)", code)
			}
			return nil
		})
	}
	out, err := env.Kubectl(testContext(t), "host", "", "get", "cluster", "borrow", "--ignore-not-found", "-o", "name")
	require.NoError(t, err)
	assert.Empty(t, out, "no Cluster borrow was made")
	assert.Equal(t, env.MemberURL("member1"), framework.Kubectl(t, env, "host", "", "get", "cluster", "member1", "-o", "jsonpath={.spec.connection.kubernetesAPIEndpoint}"))

	// Even the host admin, who may read every Secret, gives each Cluster its own.
	probe(t, "credential borrowing", "a second Cluster on member1's Secret, as the host admin", func() error {
		out, err := env.Kubectl(testContext(t), "host", framework.ClusterManifest(framework.Cluster{Name: "borrow", Endpoint: env.MemberURL("member1"), Secret: "member1-credentials"}), "create", "-f", "-")
		if err == nil {
			framework.Kubectl(t, env, "host", "", "delete", "cluster", "borrow")
			return fmt.Errorf("created: %s", out)
		}
		if !strings.Contains(err.Error(), `Secret kubesphere-system/member1-credentials already backs Cluster "member1"`) {
			return fmt.Errorf("refused without saying why: %v", err)
		}
		return nil
	})
}

// One host: the host label needs its own verb, and at most one Cluster carries it.
func TestOneHost(t *testing.T) {
	framework.Kubectl(t, env, "host", clusterOperator, "apply", "-f", "-")
	kc := framework.UserKubeconfig(t, env, env.HostURL(), "operator")
	probe(t, "host label", "label a member host with plain update rights", func() error {
		out, err := env.KubectlAs(testContext(t), kc, "", "", "label", "cluster", "member1", "cluster-role.kubesphere.io/host=true")
		if err == nil {
			return fmt.Errorf("labelled: %s", out)
		}
		if !strings.Contains(err.Error(), `needs the verb "designate-host"`) {
			return fmt.Errorf("refused without naming the verb: %v", err)
		}
		return nil
	})
	probe(t, "host label", "create a Cluster labelled host with plain create rights", func() error {
		_, err := env.KubectlAs(testContext(t), kc, `{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"own","labels":{"cluster-role.kubesphere.io/host":""}},"spec":{"connection":{"type":"Agent"}}}`, "", "create", "-f", "-")
		if err == nil {
			framework.Kubectl(t, env, "host", "", "delete", "cluster", "own")
			return fmt.Errorf("created")
		}
		return nil
	})
	// The host admin (artifacts' kubesphere:host-admin) may designate one host, and only one.
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "security-test:host-admin", "--clusterrole=kubesphere:host-admin", "--user=hostadmin")
	t.Cleanup(func() {
		framework.Kubectl(t, env, "host", "", "delete", "clusterrolebinding", "security-test:host-admin")
	})
	out, err := env.KubectlAs(testContext(t), framework.UserKubeconfig(t, env, env.HostURL(), "hostadmin"), "", "", "label", "cluster", "member1", "cluster-role.kubesphere.io/host=")
	require.NoError(t, err, out)
	t.Cleanup(func() {
		framework.Kubectl(t, env, "host", "", "label", "cluster", "member1", "cluster-role.kubesphere.io/host-")
	})
	probe(t, "host label", "a second host, as the host admin", func() error {
		out, err := env.Kubectl(testContext(t), "host", "", "label", "cluster", "member2", "cluster-role.kubesphere.io/host=true")
		if err == nil {
			framework.Kubectl(t, env, "host", "", "label", "cluster", "member2", "cluster-role.kubesphere.io/host-")
			return fmt.Errorf("labelled: %s", out)
		}
		if !strings.Contains(err.Error(), `Cluster "member1" is already the host`) {
			return fmt.Errorf("refused without saying why: %v", err)
		}
		return nil
	})
	probe(t, "host label", "server-side apply of a host-labelled Cluster with plain rights", func() error {
		return refused(do(t, client(t, userCert(t, "operator"), ""), "PATCH", env.ClusterAPIServerURL()+clustersAPI+"/own?fieldManager=intruder",
			`{"apiVersion":"clusters.kubesphere.io/v1alpha1","kind":"Cluster","metadata":{"name":"own","labels":{"cluster-role.kubesphere.io/host":""}},"spec":{"connection":{"type":"Agent"}}}`,
			http.Header{"Content-Type": {"application/apply-patch+yaml"}}))
	})
	probe(t, "host label", "remove the host label with plain update rights", func() error {
		_, err := env.KubectlAs(testContext(t), kc, "", "", "label", "cluster", "member1", "cluster-role.kubesphere.io/host-")
		if err == nil {
			return fmt.Errorf("removed")
		}
		return nil
	})
}
