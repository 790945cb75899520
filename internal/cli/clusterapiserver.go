package cli

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	clustersapi "kubesphere.io/multicluster/apis/clusters"
)

// ClusterAPIServer is where a component that acts on members as users sends its requests:
// cluster-apiserver's own port, each cluster under /clusters/<name>/.
type ClusterAPIServer struct {
	URL    string
	CAFile string
}

// NewClusterAPIServer returns the in-cluster defaults: cluster-apiserver's Service and where
// artifacts/ mounts the Secret cluster-apiserver-ca.
func NewClusterAPIServer() ClusterAPIServer {
	return ClusterAPIServer{URL: "https://cluster-apiserver." + clustersapi.DefaultNamespace + ".svc:443", CAFile: "/etc/cluster-apiserver/ca.crt"}
}

// AddFlags adds --cluster-apiserver-url and --cluster-apiserver-ca-file; what says what the
// requests are and as whom they go.
func (c *ClusterAPIServer) AddFlags(fs *pflag.FlagSet, what string) {
	fs.StringVar(&c.URL, "cluster-apiserver-url", c.URL,
		"HTTPS URL of cluster-apiserver's own port: "+what+" reach cluster <name> at <url>/clusters/<name>/.")
	fs.StringVar(&c.CAFile, "cluster-apiserver-ca-file", c.CAFile,
		"PEM bundle that verifies cluster-apiserver's serving certificate.")
}

// Validate reports the bad flags.
func (c *ClusterAPIServer) Validate() []error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("--cluster-apiserver-url %q must be an https://host[:port] URL with no path", c.URL))
	}
	if _, err := os.Stat(c.CAFile); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-apiserver-ca-file: %w", err))
	}
	return errs
}

// Config is host's credentials sent to cluster-apiserver's own port: the same identity,
// another address and CA.
func (c *ClusterAPIServer) Config(host *rest.Config) *rest.Config {
	out := rest.CopyConfig(host)
	out.Host = strings.TrimSuffix(c.URL, "/")
	out.APIPath = ""
	out.TLSClientConfig.CAFile, out.TLSClientConfig.CAData = c.CAFile, nil
	out.TLSClientConfig.ServerName, out.TLSClientConfig.Insecure = "", false
	return out
}
