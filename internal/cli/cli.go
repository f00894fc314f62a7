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
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/deployerhq/deployer/internal/cli/batch"
	"github.com/deployerhq/deployer/internal/cli/cancel"
	"github.com/deployerhq/deployer/internal/cli/completion"
	"github.com/deployerhq/deployer/internal/cli/configcmd"
	"github.com/deployerhq/deployer/internal/cli/describe"
	"github.com/deployerhq/deployer/internal/cli/dlq"
	"github.com/deployerhq/deployer/internal/cli/doctor"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobs"
	"github.com/deployerhq/deployer/internal/cli/logs"
	"github.com/deployerhq/deployer/internal/cli/rollback"
	"github.com/deployerhq/deployer/internal/cli/run"
	"github.com/deployerhq/deployer/internal/cli/schedules"
	"github.com/deployerhq/deployer/internal/cli/status"
	"github.com/deployerhq/deployer/internal/cli/supervise"
	"github.com/deployerhq/deployer/internal/cli/uicmd"
	"github.com/deployerhq/deployer/internal/cli/up"
	"github.com/deployerhq/deployer/internal/cli/wait"
	"github.com/deployerhq/deployer/internal/cpuprofile"
	"github.com/deployerhq/deployer/internal/netx"
	"github.com/deployerhq/deployer/internal/procs"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/version"
	"github.com/deployerhq/deployer/producer"
)

// Mode is the command line a binary speaks.
type Mode int

const (
	// Deployer is the deployer CLI.
	Deployer Mode = iota
	// InfrastructureDeployer is the ECS deploy runner's CLI, for the
	// command lines of its users' CI scripts to work verbatim:
	// "infrastructure-deployer --aws-region R [flags] -- CONTAINER SCRIPT
	// [ARGS...]" and "--describe-containers", always on the AWS backend.
	// deployer's subcommands and global flags stay available.
	InfrastructureDeployer
)

// name is the program name of the binary speaking m.
func (m Mode) name() string {
	if m == InfrastructureDeployer {
		return "infrastructure-deployer"
	}
	return "deployer"
}

// Main runs the deployer command line args (without the program name)
// and returns the exit code, without the AWS SDK, Prometheus, the OTLP
// span exporter or the web dashboard: a command that needs one hands the
// command line to deployer-aws (see factory.HandOff).
func Main(args []string) int { return MainAs(Deployer, args, nil, nil) }

// MainAs runs args as the command line of mode and returns the exit code;
// aws, when not nil, opens the aws backend (package awscli), and extras,
// when not nil, are the other parts deployer leaves out (package
// extras); without them, commands that need them hand the command line
// to deployer-aws.
func MainAs(mode Mode, args []string, aws factory.AWS, extras any) int {
	limitProcs(args)
	f := factory.New()
	f.SpareAtStart = true // this binary runs the supervise command
	f.AWS, f.Extras, f.Args = aws, extras, args
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// CI's TRACEPARENT parents what this command enqueues; spans are
	// exported when OTEL_EXPORTER_OTLP_ENDPOINT says where.
	ctx, stopTracing := startTracing(ctx, f, mode.name())
	defer stopTracing()
	defer cpuprofile.Start(profileName(args))()
	limitMemory(args)
	return ExecuteAs(ctx, f, mode, args)
}

// spanExporter is the part of the extras that exports spans.
type spanExporter interface {
	SpanExporter(ctx context.Context) (sdktrace.SpanExporter, error)
}

// startTracing is tracing.Start with the extras' span exporter. Where
// the environment asks for spans to be exported and there are no extras
// (deployer), the command line is handed to deployer-aws first, before
// anything is done; when it cannot be, the command runs without
// exporting, saying why, as it does when the exporter cannot start.
func startTracing(ctx context.Context, f *factory.Factory, name string) (context.Context, func()) {
	var export tracing.Exporter
	if wanted, err := tracing.Wanted(f.Getenv); err == nil && wanted {
		part, err := factory.Extra[spanExporter](f, "exporting spans ("+tracing.EnvEndpoint+")")
		if err != nil {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: tracing: %v; running without it\n", name, err)
			return tracing.FromEnv(ctx, f.Getenv), func() {}
		}
		export = part.SpanExporter
	}
	return tracing.Start(ctx, name, f.Getenv, f.IO.ErrOut, export)
}

// cliMemoryLimit is the Go memory a command that does not serve keeps to,
// however long the output it follows (deployer run of a million lines):
// a soft limit (as GOMEMLIMIT) that has the collector run more often
// rather than the heap grow.
const cliMemoryLimit = 24 << 20

// limitMemory sets cliMemoryLimit, unless the command serves (up, ui) or
// supervises a task (their memory is their work's), or GOMEMLIMIT says
// otherwise. A script argument spelled like one of those commands leaves
// the limit unset; that costs only memory.
func limitMemory(args []string) {
	if os.Getenv("GOMEMLIMIT") != "" || serves(args) || slices.Contains(args, factory.SuperviseCommand) {
		return
	}
	debug.SetMemoryLimit(cliMemoryLimit)
}

// limitProcs runs the command on one P (see package procs), unless it
// serves (up, ui: many jobs at once). A task's supervisor runs on one.
// A script argument spelled like a serving command leaves the runtime's
// default; that costs only some CPU.
func limitProcs(args []string) {
	if !serves(args) {
		procs.One()
	}
}

// serves reports whether the command line args runs a server: up or ui.
func serves(args []string) bool {
	return slices.Contains(args, "up") || slices.Contains(args, "ui")
}

// profileName is the name of the CPU profile of a deployer command line
// (see cpuprofile): its command, for the commands worth profiling.
func profileName(args []string) string {
	for _, a := range args {
		if a == factory.SuperviseCommand || a == "up" || a == "run" || a == "wait" || a == "logs" {
			return strings.TrimLeft(a, "_")
		}
	}
	return "deployer"
}

// Execute runs the deployer command line args against f and returns the
// exit code.
func Execute(ctx context.Context, f *factory.Factory, args []string) int {
	return ExecuteAs(ctx, f, Deployer, args)
}

// ExecuteAs runs args as the command line of mode against f and returns
// the exit code.
func ExecuteAs(ctx context.Context, f *factory.Factory, mode Mode, args []string) int {
	return execute(ctx, f, newCmdRoot(f, mode, seams{}), args) //nolint:contextcheck // commands take the context from ExecuteContext
}

func execute(ctx context.Context, f *factory.Factory, root *cobra.Command, args []string) int {
	if completion.Requested(args) {
		// Only a completion request reads what completes the arguments
		// and flags: registering it walks every command's flags, ~60% of
		// building the commands, on every "deployer run" otherwise.
		completion.Register(root, f) //nolint:contextcheck // the completers take the context from ExecuteContext
	}
	root.SetArgs(completion.Request(root, args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *factory.ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ee.Code
	}
	if cause, ok := netx.Unreachable(err); ok && factory.Code(err) == 1 {
		// Not the SDK's account of its retries: what failed, and where to
		// look.
		_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: cannot reach AWS%s: %v\n  (while %s)\n  Check --region/--aws-region, AWS_ENDPOINT_URL and the network.\n",
			root.Name(), endpoint(f), cause, strings.SplitN(err.Error(), ":", 2)[0])
		return producer.ExitUnavailable
	}
	_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: %v\n", root.Name(), err)
	return factory.Code(err)
}

// endpoint names where AWS calls go when the environment overrides it
// (" at http://..."), else "".
func endpoint(f *factory.Factory) string {
	if u := f.Getenv("AWS_ENDPOINT_URL"); u != "" {
		return " at " + u
	}
	return ""
}

// seams replace the actions of the commands that tests parse command
// lines of without running them; nil runs them.
type seams struct {
	run      func(context.Context, *run.Options) error
	describe func(context.Context, *describe.Options) error
}

// NewCmdRoot builds the deployer root command and its subcommands; the
// completions of their arguments and flags are registered by Execute,
// for a completion request (completion.Register).
func NewCmdRoot(f *factory.Factory) *cobra.Command { return newCmdRoot(f, Deployer, seams{}) }

func newCmdRoot(f *factory.Factory, mode Mode, s seams) *cobra.Command {
	f.Name = mode.name()
	var describeContainers bool
	// The run-less form, "deployer [run's flags] -- CONTAINER SCRIPT
	// [ARGS...]", is the ECS deploy runner's command line: run's flags
	// are the root's too, and run's action takes what follows "--".
	runLess := run.NewCmdRun(f, s.run)
	root := &cobra.Command{
		Use:   mode.name() + " [flags] -- CONTAINER SCRIPT [ARGS...]",
		Short: "Run allow-listed infrastructure scripts through a locked-down pipeline",
		Long: `deployer lets CI ask for one allow-listed script (terraform plan/apply, a
Packer build, an image build) with vetted arguments; a gatekeeper checks the
request against the allow-list and the caller's identity, a worker runs it
as an isolated task, and its output streams back live.

"` + mode.name() + ` [flags] -- CONTAINER SCRIPT [ARGS...]" is "deployer run", so the
ECS deploy runner's command lines work as they are: --aws-region (an
alias of --region) selects the aws backend; --max-wait-time, --task-cpu,
--task-memory and --no-wait are run's flags; --describe-containers is
"deployer describe".`,
		Example: `  ` + mode.name() + ` --aws-region us-east-1 -- terraform-planner infrastructure-deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc
  ` + mode.name() + ` --aws-region us-east-1 --describe-containers`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			switch dash := cmd.ArgsLenAtDash(); {
			case dash < 0 || dash > 0:
				// Words before "--" (or no "--"): an unknown command.
				return cobra.NoArgs(cmd, args)
			case describeContainers && len(args) > 0:
				return factory.Usage(errors.New("--describe-containers takes no CONTAINER SCRIPT: it lists them"))
			case !describeContainers && len(args) < 2:
				return factory.Usage(fmt.Errorf("a container and a script must follow \"--\": %s", cmd.UseLine()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if describeContainers {
				d := describe.NewCmdDescribe(f, s.describe) //nolint:contextcheck // the subcommand takes cmd's context itself
				if o := cmd.Flags().Lookup("output"); o.Changed {
					if err := d.Flags().Set("output", o.Value.String()); err != nil {
						return factory.Usage(err)
					}
				}
				return d.RunE(cmd, nil) //nolint:contextcheck // the subcommand takes cmd's context itself
			}
			if len(args) > 0 {
				return runLess.RunE(cmd, args)
			}
			var set []string
			runLess.Flags().VisitAll(func(fl *pflag.Flag) {
				if fl.Changed {
					set = append(set, "--"+fl.Name)
				}
			})
			if len(set) > 0 {
				return factory.Usage(fmt.Errorf("%s given without -- CONTAINER SCRIPT: %s", strings.Join(set, " "), cmd.UseLine()))
			}
			return cmd.Help()
		},
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.PersistentFlags().StringVar(&f.ConfigPath, "config", "", "allow-list configuration file (default $DEPLOYER_CONFIG, else the built-in example)")
	root.PersistentFlags().StringVar(&f.StateDir, "state-dir", "", "state directory of the embedded backend (default $DEPLOYER_STATE_DIR, else $XDG_STATE_HOME/deployer)")
	if mode == InfrastructureDeployer {
		// The ECS deploy runner is AWS-only.
		f.BackendName = factory.BackendAWS
	} else {
		root.PersistentFlags().StringVar(&f.BackendName, "backend", "", "embedded or aws (default $DEPLOYER_BACKEND, else aws when --region is given, else embedded)")
	}
	root.PersistentFlags().StringVar(&f.Region, "region", "", "AWS region of the aws backend; selects the aws backend when --backend is not given (default $DEPLOYER_AWS_REGION, else the SDK's: $AWS_REGION, the profile)")
	root.PersistentFlags().StringVar(&f.Region, "aws-region", "", "same as --region (the ECS deploy runner's name)")
	root.PersistentFlags().StringVar(&f.Prefix, "prefix", "", "name prefix of the aws backend's resources (default $DEPLOYER_PREFIX, else deployer-)")
	root.PersistentFlags().BoolVar(&f.NoColor, "no-color", false, "no colours and no terminal escape sequences: plain status lines instead of a live one (also $NO_COLOR)")
	root.Flags().BoolVar(&describeContainers, "describe-containers", false, "list the containers and scripts you may run (same as \"deployer describe\")")
	root.Flags().AddFlagSet(runLess.Flags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return factory.Usage(err) })

	root.AddCommand(
		run.NewCmdRun(f, s.run),
		describe.NewCmdDescribe(f, s.describe),
		up.NewCmdUp(f, nil),
		status.NewCmdStatus(f, nil),
		jobs.NewCmdJobs(f, nil),
		wait.NewCmdWait(f, nil),
		logs.NewCmdLogs(f, nil),
		configcmd.NewCmdConfig(f),
		supervise.NewCmdSupervise(),
		supervise.NewCmdTask(),
		supervise.NewCmdSecrets(f),
		dlq.NewCmdDLQ(f),
		cancel.NewCmdCancel(f, nil),
		batch.NewCmdBatch(f),
		schedules.NewCmdSchedules(f, nil),
		rollback.NewCmdRollback(f, nil),
		completion.NewCmdCompletion(f),
		doctor.NewCmdDoctor(f, nil),
		uicmd.NewCmdUI(f, nil),
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
	// cobra's help command, made now so that its --help has examples too.
	root.InitDefaultHelpCmd()
	if help, _, err := root.Find([]string{"help"}); err == nil && help != root {
		help.Example = "  " + mode.name() + " help run\n  " + mode.name() + " help batch status"
	}
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
