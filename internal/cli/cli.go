// Package cli is the deployer command line. Main runs it and returns the
// process exit code; every command lives in its own package with an
// Options struct, so flag parsing and behaviour are testable without a
// process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/batch"
	"github.com/deployerhq/deployer/internal/cli/cancel"
	"github.com/deployerhq/deployer/internal/cli/configcmd"
	"github.com/deployerhq/deployer/internal/cli/describe"
	"github.com/deployerhq/deployer/internal/cli/dlq"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobs"
	"github.com/deployerhq/deployer/internal/cli/logs"
	"github.com/deployerhq/deployer/internal/cli/run"
	"github.com/deployerhq/deployer/internal/cli/schedules"
	"github.com/deployerhq/deployer/internal/cli/status"
	"github.com/deployerhq/deployer/internal/cli/supervise"
	"github.com/deployerhq/deployer/internal/cli/up"
	"github.com/deployerhq/deployer/internal/cli/wait"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3"
// ("make build" stamps git describe). Unstamped, it is the VCS revision Go
// recorded in the binary (see version), or "dev".
var Version = "dev"

// version is Version, or, when not stamped, the revision from the build
// information ("a1b2c3d4e5f6", "-dirty" when modified).
func version(info *debug.BuildInfo, ok bool) string {
	if Version != "dev" || !ok {
		return Version
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return Version
	}
	return rev[:min(12, len(rev))] + dirty
}

// Main runs the command line args (without the program name) and returns
// the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := factory.New()
	return Execute(ctx, f, args)
}

// Execute runs args against f and returns the exit code.
func Execute(ctx context.Context, f *factory.Factory, args []string) int {
	root := NewCmdRoot(f) //nolint:contextcheck // commands take the context from ExecuteContext
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *factory.ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ee.Code
	}
	_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %v\n", err)
	return factory.Code(err)
}

// NewCmdRoot builds the root command and its subcommands.
func NewCmdRoot(f *factory.Factory) *cobra.Command {
	var describeContainers bool
	root := &cobra.Command{
		Use:   "deployer",
		Short: "Run allow-listed infrastructure scripts through a locked-down pipeline",
		Long: `deployer lets CI ask for one allow-listed script (terraform plan/apply, a
Packer build, an image build) with vetted arguments; a gatekeeper checks the
request against the allow-list and the caller's identity, a worker runs it
as an isolated task, and its output streams back live.`,
		Version:       version(debug.ReadBuildInfo()),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { //nolint:contextcheck // the subcommand reads cmd's context itself
			if describeContainers {
				return describe.NewCmdDescribe(f, nil).RunE(cmd, nil) //nolint:contextcheck // the subcommand takes cmd's context itself
			}
			return cmd.Help()
		},
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.PersistentFlags().StringVar(&f.ConfigPath, "config", "", "allow-list configuration file (default $DEPLOYER_CONFIG, else the built-in example)")
	root.PersistentFlags().StringVar(&f.StateDir, "state-dir", "", "state directory of the embedded backend (default $DEPLOYER_STATE_DIR, else $XDG_STATE_HOME/deployer)")
	root.PersistentFlags().StringVar(&f.BackendName, "backend", "", "embedded or aws (default $DEPLOYER_BACKEND, else embedded)")
	root.PersistentFlags().StringVar(&f.Region, "region", "", "AWS region of the aws backend (default $DEPLOYER_AWS_REGION, else the SDK's: $AWS_REGION, the profile)")
	root.PersistentFlags().StringVar(&f.Prefix, "prefix", "", "name prefix of the aws backend's resources (default $DEPLOYER_PREFIX, else deployer-)")
	root.Flags().BoolVar(&describeContainers, "describe-containers", false, "list the containers and scripts you may run (same as \"deployer describe\")")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return factory.Usage(err) })

	root.AddCommand(
		run.NewCmdRun(f, nil),
		describe.NewCmdDescribe(f, nil),
		up.NewCmdUp(f, nil),
		status.NewCmdStatus(f, nil),
		jobs.NewCmdJobs(f, nil),
		wait.NewCmdWait(f, nil),
		logs.NewCmdLogs(f, nil),
		configcmd.NewCmdConfig(f),
		supervise.NewCmdSupervise(),
		supervise.NewCmdTask(),
		dlq.NewCmdDLQ(f),
		cancel.NewCmdCancel(f, nil),
		batch.NewCmdBatch(f),
		schedules.NewCmdSchedules(f, nil),
	)
	// Unknown commands and bad arguments are usage errors.
	var usage func(c *cobra.Command)
	usage = func(c *cobra.Command) {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return factory.Usage(err) })
		wrapArgs(c)
		for _, sub := range c.Commands() {
			usage(sub)
		}
	}
	for _, c := range root.Commands() {
		usage(c)
	}
	wrapArgs(root)
	return root
}

// wrapArgs makes cobra's argument-count errors usage errors (exit 64).
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			var ee *factory.ExitError
			if errors.As(err, &ee) {
				return err
			}
			return factory.Usage(err)
		}
		return nil
	}
}
