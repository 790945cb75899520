package lifecycle

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubesphere.io/multicluster/internal/localenv"
)

// condition reads one condition of a Cluster as status|reason|message.
func condition(t *testing.T, cluster, condType string) []string {
	out := kubectl(t, "", "get", "cluster", cluster, "-o", fmt.Sprintf(
		`jsonpath={.status.conditions[?(@.type=="%[1]s")].status}|{.status.conditions[?(@.type=="%[1]s")].reason}|{.status.conditions[?(@.type=="%[1]s")].message}`, condType))
	return strings.SplitN(out, "|", 3)
}

// A member credential whose client certificate expires within 7 days shows
// CredentialsExpiring=True with a Warning event, while the member stays Ready; a fresh
// credential clears it.
func TestCredentialsExpiring(t *testing.T) {
	ctx := context.Background()
	short, err := env.IssueClientCertValidFor("member2", localenv.ClusterProxyUser, 72*time.Hour)
	require.NoError(t, err)
	flat, err := env.KubectlAs(ctx, short, "", "", "config", "view", "--raw", "--flatten")
	require.NoError(t, err)
	original := kubectl(t, "", "get", "secret", "-n", localenv.Namespace, "member2-credentials", "-o", "jsonpath={.data.kubeconfig}")
	patch := func(data string) {
		kubectl(t, "", "patch", "secret", "-n", localenv.Namespace, "member2-credentials", "--type=merge",
			"-p", fmt.Sprintf(`{"data":{"kubeconfig":%q}}`, data))
	}
	defer patch(original)

	patch(base64.StdEncoding.EncodeToString([]byte(flat)))
	start := time.Now()
	var got []string
	require.Eventually(t, func() bool {
		got = condition(t, "member2", "CredentialsExpiring")
		return got[0] == "True"
	}, 40*time.Second, 500*time.Millisecond, "CredentialsExpiring after the short-lived certificate went in: %v", got)
	t.Logf("CredentialsExpiring=True %s after the Secret changed: %s", time.Since(start).Round(time.Second), got[2])
	assert.Equal(t, "CertificateExpiresSoon", got[1])
	assert.Contains(t, got[2], "kubesphere-system/member2-credentials")
	assert.Equal(t, "True", condition(t, "member2", "Ready")[0], "the credential still works")
	events := kubectl(t, "", "get", "events", "-A", "--field-selector", "involvedObject.name=member2,type=Warning", "-o", "jsonpath={.items[*].reason}")
	assert.Contains(t, events, "CertificateExpiresSoon")

	patch(original)
	require.Eventually(t, func() bool { return condition(t, "member2", "CredentialsExpiring")[0] == "False" },
		40*time.Second, 500*time.Millisecond, "a fresh credential clears the warning")
}
