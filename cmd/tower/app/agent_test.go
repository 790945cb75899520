package app

import (
	"bytes"
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgentOptionsValidate(t *testing.T) {
	good := func() *AgentOptions {
		return &AgentOptions{ClusterName: "member2", TowerProxyServers: []string{"https://127.0.0.1:18443"}, TowerProxyCAFile: "ca.crt",
			TokenFile: "token", BackoffInitial: time.Second, BackoffMax: 30 * time.Second}
	}
	require.NoError(t, good().Validate())
	for name, tc := range map[string]struct {
		change func(*AgentOptions)
		want   string
	}{
		"profiling without an address": {func(o *AgentOptions) { o.Profiling = true }, "--profiling needs --health-bind-address"},
		"bad cluster name":             {func(o *AgentOptions) { o.ClusterName = "Member_2" }, "--cluster-name"},
		"no tower proxy":               {func(o *AgentOptions) { o.TowerProxyServers = nil }, "--tower-proxy-servers"},
		"no tower proxy CA":            {func(o *AgentOptions) { o.TowerProxyCAFile = "" }, "--tower-proxy-ca-file"},
	} {
		t.Run(name, func(t *testing.T) {
			o := good()
			tc.change(o)
			err := o.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// The agent's flags that name the tower proxy had no "tower-" before: the old names still
// work, hidden from the help, with a deprecation notice.
func TestAgentDeprecatedProxyFlags(t *testing.T) {
	cmd := newAgentCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	require.NoError(t, cmd.ParseFlags([]string{"--proxy-servers=https://a:8443,https://b:8443", "--proxy-ca-file=ca.crt"}))
	servers, err := cmd.Flags().GetStringSlice("tower-proxy-servers")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://a:8443", "https://b:8443"}, servers)
	ca, err := cmd.Flags().GetString("tower-proxy-ca-file")
	require.NoError(t, err)
	assert.Equal(t, "ca.crt", ca)
	assert.Contains(t, out.String(), "Flag --proxy-servers has been deprecated, use --tower-proxy-servers instead")
	assert.Contains(t, out.String(), "Flag --proxy-ca-file has been deprecated, use --tower-proxy-ca-file instead")

	out.Reset()
	require.NoError(t, cmd.Help())
	assert.Contains(t, out.String(), "--tower-proxy-servers")
	assert.NotContains(t, out.String(), " --proxy-servers")
	assert.NotContains(t, out.String(), " --proxy-ca-file")
}

// GOMAXPROCS comes from the environment (the Downward API in a pod), not from a flag.
func TestNoGoMaxProcsFlag(t *testing.T) {
	for _, cmd := range []*cobra.Command{newAgentCommand(), newProxyCommand()} {
		assert.Nil(t, cmd.Flags().Lookup("gomaxprocs"), cmd.Name())
	}
}

// After a burst, the agent's heap goes back to the OS within a period, without waiting for
// Go's own next collection.
func TestReleaseMemoryReturnsABurstsHeap(t *testing.T) {
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go releaseMemory(ctx, 20*time.Millisecond, 4<<20)
	burst := make([][]byte, 0, 256)
	for i := 0; i < 256; i++ {
		burst = append(burst, make([]byte, 128<<10)) // 32 MiB in all
	}
	burst[0][0] = 1
	before := released()
	burst = nil
	require.Eventually(t, func() bool { return released() >= before+24<<20 }, 5*time.Second, 20*time.Millisecond,
		"the burst's 32 MiB was not returned to the OS")
	_ = burst
}
