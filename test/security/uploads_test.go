package security

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// TestUploadReviewRights: the review of uploaded charts is a set of rights no one holds by
// accident. A certificate that carries nothing, an App Store user (who may read and
// install) and appstore-controller's own token can neither make, upload, label, review nor
// delete a version, on either path; an uploader cannot review their own.
func TestUploadReviewRights(t *testing.T) {
	ctx := testContext(t)
	framework.Kubectl(t, env, "host", `{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"Repo","metadata":{"name":"secup"},"spec":{"source":"Upload"}}`,
		"apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "repo", "secup", "--ignore-not-found")
	})
	framework.Kubectl(t, env, "host", appStoreUser, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = framework.TryKubectl(t, env, "host", appStoreUser, "delete", "-f", "-") })
	framework.Kubectl(t, env, "host", "", "create", "clusterrolebinding", "security-test:uploader", "--clusterrole=kubesphere:appstore-uploader", "--user=uploader")
	t.Cleanup(func() {
		_, _ = framework.TryKubectl(t, env, "host", "", "delete", "clusterrolebinding", "security-test:uploader")
	})

	// The host's admin makes a version with an archive, and submits it.
	const name = "secup.hello.0.1.0"
	version := `{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"ApplicationVersion","metadata":{"name":"` + name + `"},
"spec":{"chart":"hello","version":"0.1.0"}}`
	framework.Kubectl(t, env, "host", version, "create", "-f", "-")
	archive := filepath.Join(t.TempDir(), "hello.tgz")
	require.NoError(t, os.WriteFile(archive, framework.ChartArchive(t, "hello", "0.1.0", 0), 0o600))
	api := "/apis/appstore.kubesphere.io/v1alpha1/applicationversions"
	framework.Kubectl(t, env, "host", "", "replace", "--raw", api+"/"+name+"/chart", "-f", archive)
	review := `{"apiVersion":"appstore.kubesphere.io/v1alpha1","kind":"ReviewRequest","message":"probe"}`
	framework.Kubectl(t, env, "host", review, "create", "--raw", api+"/"+name+"/submit", "-f", "-")

	token, err := env.Kubectl(ctx, "host", "", "create", "token", "appstore-controller", "-n", localenv.ControllerManagerNamespace)
	require.NoError(t, err)
	intruders := map[string]*http.Client{
		"a certificate of nothing":         client(t, userCert(t, "nobody"), ""),
		"an App Store user":                client(t, userCert(t, "developer", "developers"), ""),
		"appstore-controller's token":      client(t, nil, strings.TrimSpace(token)),
		"an uploader reviewing their own":  client(t, userCert(t, "uploader"), ""),
		"an uploader activating their own": client(t, userCert(t, "uploader"), ""),
	}
	json := http.Header{"Content-Type": {"application/json"}}
	for who, c := range intruders {
		type attempt struct{ what, method, path, body string }
		attempts := []attempt{{"pass", "POST", api + "/" + name + "/pass", review}}
		switch who {
		case "an uploader reviewing their own":
			attempts = append(attempts, attempt{"reject", "POST", api + "/" + name + "/reject", review})
		case "an uploader activating their own":
			attempts = append(attempts, attempt{"activate", "POST", api + "/" + name + "/activate", review},
				attempt{"suspend", "POST", api + "/" + name + "/suspend", review})
		default:
			attempts = append(attempts,
				attempt{"create", "POST", api, strings.Replace(version, name, "secup.hello.0.2.0", 1)},
				attempt{"upload", "PUT", api + "/" + name + "/chart", "not even an archive"},
				attempt{"label", "PATCH", api + "/" + name, `{"metadata":{"labels":{"x":"y"}}}`},
				attempt{"submit", "POST", api + "/" + name + "/submit", review},
				attempt{"reject", "POST", api + "/" + name + "/reject", review},
				attempt{"activate", "POST", api + "/" + name + "/activate", review},
				attempt{"delete", "DELETE", api + "/" + name, ""})
		}
		for _, base := range []string{env.HostURL(), env.ClusterAPIServerURL()} {
			for _, a := range attempts {
				header := json
				if a.method == "PATCH" {
					header = http.Header{"Content-Type": {"application/merge-patch+json"}}
				}
				probe(t, "upload review", who+": "+a.what+" via "+base, func() error {
					return denied(do(t, c, a.method, base+a.path, a.body, header))
				})
			}
		}
	}
	// Nothing above changed the version.
	out := framework.Kubectl(t, env, "host", "", "get", "applicationversion", name, "-o", "jsonpath={.status.state} {.metadata.labels.x}")
	require.Equal(t, "Submitted ", out)
}
