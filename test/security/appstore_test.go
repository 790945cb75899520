package security

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
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

// appStoreUser lets the developer ask for releases (the local environment already lets it
// use member1 through the host, not member2).
const appStoreUser = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: security-test:appstore-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubesphere:appstore-user}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: developer}]
`

// TestAppStoreControllerImpersonation: appstore-controller's credential (its ServiceAccount
// token, nothing else) impersonates a recorded requester on cluster-apiserver's proxy
// paths (/clusters/<name>/ and clusters/<name>/proxy on its own port) and nowhere else: not
// anyone who made no release, not groups the requester was not in, not off the proxy
// path, not through the host's kube-apiserver.
func TestAppStoreControllerImpersonation(t *testing.T) {
	ctx := testContext(t)
	framework.Kubectl(t, env, "host", appStoreUser, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", appStoreUser, "delete", "-f", "-") })
	ca, err := os.ReadFile(env.AppStoreCAFile())
	require.NoError(t, err)
	repo := fmt.Sprintf(`{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"sec"},"spec":{"url":%q,"caBundle":%q}}`,
		env.ChartRepoURL(), base64.StdEncoding.EncodeToString(ca))
	framework.Kubectl(t, env, "host", repo, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", "sec", "--ignore-not-found") })
	require.Eventually(t, func() bool {
		_, err := framework.TryKubectl(t, env, "host", "", "get", "applicationversion", "sec.hello.0.2.0")
		return err == nil
	}, time.Minute, 250*time.Millisecond, "the Repo syncs")

	// The chart download reads private repositories with their credentials: a user who
	// holds nothing gets no archive, on either path.
	nobody := client(t, userCert(t, "nobody"), "")
	for _, base := range []string{env.HostURL(), env.ClusterAPIServerURL()} {
		probe(t, "chart download", "applicationversions/chart without the right via "+base, func() error {
			return denied(do(t, nobody, "GET", base+"/apis/appstore.kubesphere.io/v1alpha1/applicationversions/sec.hello.0.2.0/chart", "", nil))
		})
	}

	// The developer asks for a release on member1: from now on a recorded requester.
	dev := client(t, userCert(t, "developer", "developers"), "")
	release := `{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"ApplicationRelease","metadata":{"name":"sec-web"},
"spec":{"application":"sec.hello","version":"0.2.0","targetNamespace":"default","placement":{"clusters":["member1"]}}}`
	code, body := do(t, dev, "POST", env.HostURL()+"/apis/appstore.kubesphere.io/v1alpha1/applicationreleases", release,
		http.Header{"Content-Type": {"application/json"}})
	require.Equal(t, http.StatusCreated, code, body)
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "applicationrelease", "sec-web", "--wait=false", "--ignore-not-found")
		_, _ = framework.TryKubectl(t, env, "host", "", "patch", "applicationrelease", "sec-web", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	})
	token, err := env.Kubectl(ctx, "host", "", "create", "token", "appstore-controller", "-n", localenv.ControllerManagerNamespace)
	require.NoError(t, err)
	controller := client(t, nil, strings.TrimSpace(token))
	as := func(user string, groups ...string) http.Header {
		h := http.Header{"Impersonate-User": {user}}
		if len(groups) > 0 {
			h["Impersonate-Group"] = groups
		}
		return h
	}

	// Positive control: as the requester, on member1, through cluster-apiserver's own path.
	namespaces := "/api/v1/namespaces"
	require.Eventually(t, func() bool {
		code, _ := do(t, controller, "GET", env.DirectPathURL("member1")+namespaces, "", as("developer", "developers", "system:authenticated"))
		return code == http.StatusOK
	}, 30*time.Second, 250*time.Millisecond, "the controller acts as the requester on member1")
	// The same proxy behind cluster-apiserver's own subresource path.
	code, body = do(t, controller, "GET", env.ClusterAPIServerURL()+clustersAPI+"/member1/proxy"+namespaces, "", as("developer", "developers"))
	require.Equal(t, http.StatusOK, code, body)

	const class = "appstore-controller"
	for name, h := range map[string]http.Header{
		"a user who made no release":       as("admin"),
		"system:masters":                   as("developer", "system:masters"),
		"a group the requester was not in": as("developer", "developers", "admins"),
		"a uid the requester has not":      {"Impersonate-User": {"developer"}, "Impersonate-Uid": {"0"}},
		"an extra the requester has not":   {"Impersonate-User": {"developer"}, "Impersonate-Extra-Scopes": {"all"}},
		"a node":                           as("system:node:member1-node-0"),
		"a service account":                as("system:serviceaccount:kube-system:default"),
	} {
		probe(t, class, name+" on /clusters/member1/", func() error {
			return denied(do(t, controller, "GET", env.DirectPathURL("member1")+namespaces, "", h))
		})
	}
	// The requester's own gate still applies: the developer may not use member2.
	probe(t, class, "the requester on a cluster they may not use", func() error {
		return denied(do(t, controller, "GET", env.DirectPathURL("member2")+namespaces, "", as("developer", "developers")))
	})
	// Off the proxy path, and through the host (which grants it no impersonation at all).
	requester := as("developer", "developers")
	for name, req := range map[string][2]string{
		"host secrets":                 {"GET", env.HostURL() + "/api/v1/namespaces/kubesphere-system/secrets"},
		"clusters list":                {"GET", env.ClusterAPIServerURL() + clustersAPI},
		"clusters list via the host":   {"GET", env.HostURL() + clustersAPI},
		"a Repo create":                {"POST", env.ClusterAPIServerURL() + reposAPI},
		"a Cluster update":             {"PATCH", env.ClusterAPIServerURL() + clustersAPI + "/member1"},
		"the host's aggregated proxy":  {"GET", env.ViaHostURL("member1") + namespaces},
		"a release create as the user": {"POST", env.ClusterAPIServerURL() + "/apis/appstore.kubesphere.io/v1alpha1/applicationreleases"},
	} {
		for who, h := range map[string]http.Header{"as the requester": requester, "as admin": as("admin", "system:masters")} {
			probe(t, class, name+" "+who, func() error {
				payload := ""
				switch req[0] {
				case "POST":
					payload = repoJSON("via-controller", "https://127.0.0.1:9/charts", "")
					if strings.Contains(req[1], "applicationreleases") {
						payload = release
					}
				case "PATCH":
					payload = `{"metadata":{"labels":{"owned":"yes"}}}`
				}
				return denied(do(t, controller, req[0], req[1], payload, h))
			})
		}
	}
	// Its own right, unimpersonated, on members: none.
	probe(t, class, "member1 as itself", func() error {
		return denied(do(t, controller, "GET", env.DirectPathURL("member1")+namespaces, "", nil))
	})
}
