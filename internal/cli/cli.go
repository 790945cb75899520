// Package cli holds what every command of the project does alike with its command line:
// named flag sets with kube-style help, CA bundles named by flags, and kubeconfigs.
package cli

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	"k8s.io/component-base/term"
)

// AddFlags gives cmd the named flag sets (plus the global ones: help, log flags) and
// prints them by section in --help, as kube-apiserver does.
func AddFlags(cmd *cobra.Command, fss cliflag.NamedFlagSets) *cobra.Command {
	globalflag.AddGlobalFlags(fss.FlagSet("global"), cmd.Name())
	for _, f := range fss.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}

// AddDeprecatedAlias makes old another name of the flag name of fs: it sets the same
// value, is hidden from the help, and prints a deprecation notice when used. Flags that
// were renamed keep working this way for a release.
func AddDeprecatedAlias(fs *pflag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	fs.AddFlag(&pflag.Flag{Name: old, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue})
	_ = fs.MarkDeprecated(old, "use --"+name+" instead")
}

// CertPool reads the PEM CA bundle file named by flag; a file with no certificate is an
// error that names the flag.
func CertPool(flag, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", flag, file)
	}
	return pool, nil
}

// ClientConfig loads a kubeconfig (in-cluster when kubeconfig is empty, as client-go does)
// for the cluster what names in errors, with the command's user agent.
func ClientConfig(kubeconfig, what, userAgent string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig: %w", what, err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}
