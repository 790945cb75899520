package security

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"kubesphere.io/multicluster/test/framework"
)

// repoOperator may manage the App Store's Repos but not read Secrets: a Repo naming a
// credentials Secret would send what is in it to the Repo's URL, a server of the
// operator's choosing.
const repoOperator = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: security-test:repo-operator}
rules:
- apiGroups: [appstore.kubesphere.io]
  resources: [repos]
  verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: security-test:repo-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: security-test:repo-operator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: repo-operator}]
`

const reposAPI = "/apis/appstore.kubesphere.io/v1alpha1/repos"

func repoJSON(name, url, secret string) string {
	ref := ""
	if secret != "" {
		ref = fmt.Sprintf(`,"credentialsSecretRef":{"name":%q}`, secret)
	}
	return fmt.Sprintf(`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":%q},"spec":{"url":%q%s}}`, name, url, ref)
}

func TestRepoWritesCannotBorrowCredentials(t *testing.T) {
	framework.Kubectl(t, env, "host", repoOperator, "apply", "-f", "-")
	c := client(t, userCert(t, "repo-operator"), "")
	json := http.Header{"Content-Type": {"application/json"}}
	apply := http.Header{"Content-Type": {"application/apply-patch+yaml"}}
	// A Repo of the operator's own, without credentials, is theirs to make.
	code, body := do(t, c, "POST", env.HostURL()+reposAPI, repoJSON("own-repo", "https://127.0.0.1:9/charts", ""), json)
	if code != http.StatusCreated {
		t.Fatalf("a Repo without credentials: %d %s", code, body)
	}
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", "own-repo", "--ignore-not-found")
	})
	for _, path := range []string{env.HostURL(), env.ClusterAPIServerURL()} {
		probe(t, "repo credential borrowing", "create a Repo with member1's Secret via "+path, func() error {
			code, body := do(t, c, "POST", path+reposAPI, repoJSON("borrow", "https://127.0.0.1:9/charts", "member1-credentials"), json)
			if err := refused(code, body); err != nil {
				return err
			}
			if !strings.Contains(body, `may not get secrets \"member1-credentials\" in namespace \"kubesphere-system\"`) {
				return fmt.Errorf("refused (%d) without naming the missing right: %s", code, body)
			}
			return nil
		})
		probe(t, "repo credential borrowing", "add member1's Secret to an existing Repo via "+path, func() error {
			return refused(do(t, c, "PATCH", path+reposAPI+"/own-repo", `{"spec":{"credentialsSecretRef":{"name":"member1-credentials"}}}`,
				http.Header{"Content-Type": {"application/merge-patch+json"}}))
		})
		probe(t, "repo credential borrowing", "server-side apply creating borrow via "+path, func() error {
			return refused(do(t, c, "PATCH", path+reposAPI+"/borrow?fieldManager=intruder", repoJSON("borrow", "https://127.0.0.1:9/charts", "member1-credentials"), apply))
		})
		probe(t, "repo credential borrowing", "dry-run create of borrow via "+path, func() error {
			return refused(do(t, c, "POST", path+reposAPI+"?dryRun=All", repoJSON("borrow", "https://127.0.0.1:9/charts", "member1-credentials"), json))
		})
		probe(t, "repo status", "status write by a Repo operator via "+path, func() error {
			return refused(do(t, c, "PATCH", path+reposAPI+"/own-repo/status", `{"status":{"chartCount":7}}`,
				http.Header{"Content-Type": {"application/merge-patch+json"}}))
		})
	}
}
