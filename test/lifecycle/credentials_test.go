package lifecycle

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
	"kubesphere.io/multicluster/test/framework"
)

// A member credential whose client certificate expires within 7 days shows
// CredentialsExpiring=True with a Warning event, while the member stays Ready; a fresh
// credential clears it.
func TestCredentialsExpiring(t *testing.T) {
	ctx := context.Background()
	short, err := env.IssueClientCertValidFor("member2", localenv.ClusterProxyUser, 72*time.Hour)
	require.NoError(t, err)
	flat, err := env.KubectlAs(ctx, short, "", "", "config", "view", "--raw", "--flatten")
	require.NoError(t, err)
	original := framework.Kubectl(t, env, "host", "", "get", "secret", "-n", localenv.Namespace, "member2-credentials", "-o", "jsonpath={.data.kubeconfig}")
	patch := func(data string) {
		framework.Kubectl(t, env, "host", "", "patch", "secret", "-n", localenv.Namespace, "member2-credentials", "--type=merge",
			"-p", fmt.Sprintf(`{"data":{"kubeconfig":%q}}`, data))
	}
	defer patch(original)

	patch(base64.StdEncoding.EncodeToString([]byte(flat)))
	start := time.Now()
	var status, reason, message string
	require.Eventually(t, func() bool {
		status, reason, message = framework.Condition(t, env, "member2", "CredentialsExpiring")
		return status == "True"
	}, 40*time.Second, 500*time.Millisecond, "CredentialsExpiring after the short-lived certificate went in: %s %s %s", status, reason, message)
	t.Logf("CredentialsExpiring=True %s after the Secret changed: %s", time.Since(start).Round(time.Second), message)
	assert.Equal(t, "CertificateExpiresSoon", reason)
	assert.Contains(t, message, "kubesphere-system/member2-credentials")
	ready, _, _ := framework.Condition(t, env, "member2", "Ready")
	assert.Equal(t, "True", ready, "the credential still works")
	events := framework.Kubectl(t, env, "host", "", "get", "events", "-A", "--field-selector", "involvedObject.name=member2,type=Warning", "-o", "jsonpath={.items[*].reason}")
	assert.Contains(t, events, "CertificateExpiresSoon")

	patch(original)
	require.Eventually(t, func() bool {
		status, _, _ := framework.Condition(t, env, "member2", "CredentialsExpiring")
		return status == "False"
	},
		40*time.Second, 500*time.Millisecond, "a fresh credential clears the warning")
}
