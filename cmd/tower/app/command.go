// Package app is the tower command: `tower agent` and `tower proxy`.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// defaultGoMaxProcs: both tower processes relay bytes, each request passing between a few
// goroutines. On one thread those hand-offs wake no other thread; with two, the Go scheduler
// wakes and parks a second one for nearly every request. Measured on make local-up
// (README, "Agent connection"): the tower proxies spent about 30% less CPU per proxied GET
// with one, and the tunnel's latency was lower. Their CPU limits are below one core anyway.
const defaultGoMaxProcs = 1

func addGoMaxProcsFlag(fs *pflag.FlagSet, v *int) {
	fs.IntVar(v, "gomaxprocs", *v,
		"Threads that run Go code at once. One suits a relay under a CPU limit of a core or less: a request's "+
			"hand-offs between goroutines then wake no other thread (less CPU and latency per request, see README). "+
			"0 keeps Go's default (the CPU limit, at least 2). The GOMAXPROCS environment variable, when set, wins.")
}

func validateGoMaxProcs(n int) error {
	if n < 0 {
		return errors.New("--gomaxprocs must not be negative")
	}
	return nil
}

func setGoMaxProcs(n int) {
	if n > 0 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(n)
	}
}
