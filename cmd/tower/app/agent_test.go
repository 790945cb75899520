package app

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgentOptionsValidate(t *testing.T) {
	good := func() *AgentOptions {
		return &AgentOptions{ClusterName: "member2", ProxyServers: []string{"https://127.0.0.1:18443"}, ProxyCAFile: "ca.crt",
			TokenFile: "token", BackoffInitial: time.Second, BackoffMax: 30 * time.Second, GoMaxProcs: 1}
	}
	require.NoError(t, good().Validate())
	for name, tc := range map[string]struct {
		change func(*AgentOptions)
		want   string
	}{
		"negative gomaxprocs":          {func(o *AgentOptions) { o.GoMaxProcs = -1 }, "--gomaxprocs"},
		"profiling without an address": {func(o *AgentOptions) { o.Profiling = true }, "--profiling needs --health-bind-address"},
		"bad cluster name":             {func(o *AgentOptions) { o.ClusterName = "Member_2" }, "--cluster-name"},
		"no tower proxy":               {func(o *AgentOptions) { o.ProxyServers = nil }, "--proxy-servers"},
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
