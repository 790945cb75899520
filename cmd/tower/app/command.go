// Package app is the tower command: `tower agent` and `tower proxy`.
package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
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
