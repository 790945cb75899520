package app

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// join's flags that name the tower proxy had no "tower-" before, as tower agent's: the
// old names still set the same values, with a deprecation notice.
func TestJoinDeprecatedTowerProxyFlags(t *testing.T) {
	var out bytes.Buffer
	cmd := newJoinCommand(&hostFlags{}, &out)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	require.NoError(t, cmd.ParseFlags([]string{"--proxy-servers=https://a:8443", "--proxy-ca-file=ca.crt"}))
	servers, _ := cmd.Flags().GetStringSlice("tower-proxy-servers")
	ca, _ := cmd.Flags().GetString("tower-proxy-ca-file")
	assert.Equal(t, []string{"https://a:8443"}, servers)
	assert.Equal(t, "ca.crt", ca)
	assert.Contains(t, out.String(), "Flag --proxy-servers has been deprecated, use --tower-proxy-servers instead")
}
