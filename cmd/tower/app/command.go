// Package app is the tower command: `tower agent` and `tower proxy`.
package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	"k8s.io/component-base/term"
)

// NewCommand returns the tower command with its two subcommands.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tower",
		Short: "The agent connection to member clusters with no inbound route",
		Long: `tower connects member clusters that the host cannot dial (behind NAT or a firewall).
"tower agent" runs on the member and opens one outbound TLS connection to every "tower proxy"
replica on the host; the host's requests to the member travel as streams over it.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("tower needs a subcommand: agent or proxy (see tower --help)")
		},
	}
	cmd.AddCommand(newAgentCommand(), newProxyCommand())
	return cmd
}

// withFlags gives cmd the named flag sets and kube-style help.
func withFlags(cmd *cobra.Command, fss cliflag.NamedFlagSets) *cobra.Command {
	globalflag.AddGlobalFlags(fss.FlagSet("global"), cmd.Name())
	for _, f := range fss.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}

// run validates, then runs until SIGTERM or SIGINT.
func run(args []string, validate func() error, run func(context.Context) error) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: flags only", args)
	}
	if err := validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx)
}
