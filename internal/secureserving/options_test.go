package secureserving

import (
	"testing"

	"github.com/stretchr/testify/assert"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// TestValidateServingFlags: each bad flag is named.
func TestValidateServingFlags(t *testing.T) {
	for _, c := range []struct {
		set  func(*Options)
		want string
	}{
		{func(o *Options) { o.Serving.CertFile = "tls.crt" }, "--tls-cert-file and --tls-private-key-file go together"},
		{func(o *Options) { o.Serving.CipherSuites = []string{"TLS_NOT_A_SUITE"} }, "--tls-cipher-suites"},
		{func(o *Options) { o.Serving.MinTLSVersion = "VersionTLS99" }, "--tls-min-version"},
		{func(o *Options) { o.Authentication.RequestHeader.UIDHeaders = []string{"X-Uid"} }, "X-Remote-Uid"},
		{func(o *Options) { o.Authentication.RequestHeader.UsernameHeaders = []string{" "} }, `empty value in "requestheader-username-headers"`},
		{func(o *Options) { o.Authorization.AlwaysAllowPaths = []string{"/a*b"} }, "--authorization-always-allow-paths"},
	} {
		o := newTestOptions()
		c.set(o)
		assert.ErrorContains(t, utilerrors.NewAggregate(o.Validate()), c.want)
	}
}
