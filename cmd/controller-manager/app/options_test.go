package app

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlags: the secure port's defaults are controller-manager's, with upstream's flags.
func TestFlags(t *testing.T) {
	o := NewOptions()
	fss := o.Flags()
	flag := func(name string) string {
		for _, fs := range fss.FlagSets {
			if f := fs.Lookup(name); f != nil {
				return f.DefValue
			}
		}
		return "<none>"
	}
	assert.Equal(t, "127.0.0.1", flag("bind-address"))
	assert.Equal(t, "10360", flag("secure-port"))
	assert.Equal(t, "", flag("cert-dir"), "the self-signed certificate is made in memory")
	assert.Equal(t, "[/healthz,/readyz,/livez]", flag("authorization-always-allow-paths"))
	assert.Equal(t, "<none>", flag("metrics-bind-address"))
	for _, name := range []string{"tls-cert-file", "client-ca-file", "authentication-kubeconfig", "authorization-kubeconfig", "requestheader-client-ca-file"} {
		assert.NotEqual(t, "<none>", flag(name), name)
	}

	o.SecureServing.Serving.BindPort = 70000
	assert.ErrorContains(t, o.Validate(), "--secure-port 70000 is not a port: 1 to 65535, or 0 to serve nothing")
}

func TestSecurePortZeroServesNothing(t *testing.T) {
	o := NewOptions()
	o.SecureServing.Serving.BindPort = 0
	require.NoError(t, o.Validate())
	c, err := o.Config()
	require.NoError(t, err)
	assert.Nil(t, c.SecureServing)
}

// TestConfigDelegatesToKubeconfig: with no kubeconfig of their own the delegated reviews
// go to the host of --kubeconfig (internal/secureserving tests the reviews themselves).
func TestConfigDelegatesToKubeconfig(t *testing.T) {
	o := NewOptions()
	o.Kubeconfig = filepath.Join(t.TempDir(), "missing-kubeconfig")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.SecureServing.Serving.Listener = l
	require.NoError(t, o.Validate())
	_, err = o.Config()
	require.ErrorContains(t, err, "failed to get delegated authentication kubeconfig")
	assert.ErrorContains(t, err, o.Kubeconfig)
}
