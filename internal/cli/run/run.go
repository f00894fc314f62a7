// Package run implements "deployer run": ask for one allow-listed script,
// follow its output, and exit with its exit code.
package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of "deployer run".
type Options struct {
	Factory *factory.Factory

	Container  string
	Script     string
	Args       []string
	MaxWait    time.Duration
	TaskCPU    int
	TaskMemory int
	NoWait     bool
	Output     string
	Timestamps bool
}

// NewCmdRun builds the command; runF replaces the action in tests.
func NewCmdRun(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "run [flags] -- CONTAINER SCRIPT [ARGS...]",
		Short: "Run an allow-listed script and stream its output",
		Long: `Run asks the pipeline to run SCRIPT of CONTAINER with ARGS, streams the
task's output (stdout and stderr merged, as the task wrote it) to stdout and
deployer's status lines to stderr, and exits with the task's exit code.

Other outcomes exit with: 77 rejected by policy, 124 timed out, 130
cancelled, 69 could not start, 75 gave up waiting (--max-wait-time elapsed;
the job keeps running: "deployer wait JOB_ID" re-attaches), 64 usage error
(a request larger than the request queue takes, too), 78 configuration
error.

With no "deployer up" serving the state directory, run (with or without
--no-wait) starts a detached server for it: "deployer up" in the
background, logging to serve.log in the state directory, which stops by
itself once idle for 30s ($DEPLOYER_IDLE_EXIT). The job runs to its end
even if run is killed.`,
		Example: `  deployer run -- demo plan --path modules/vpc --ref main
  deployer run --no-wait -- demo hello world`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return factory.Usage(errors.New("run needs a container and a script: deployer run -- CONTAINER SCRIPT [ARGS...]"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Container, opts.Script, opts.Args = args[0], args[1], args[2:]
			if err := checkNames(cmd.UseLine(), opts.Container, opts.Script); err != nil {
				return err
			}
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if opts.MaxWait <= 0 {
				return factory.Usage(errors.New("--max-wait-time must be positive"))
			}
			if opts.TaskCPU < 0 || opts.TaskMemory < 0 {
				return factory.Usage(errors.New("--task-cpu and --task-memory must not be negative"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	// Everything after CONTAINER belongs to the script, flags included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "how long to follow the job before giving up (exit 75); the job keeps running")
	cmd.Flags().IntVar(&opts.TaskCPU, "task-cpu", 0, "CPU units for the task, within the container's cap (default: the container's)")
	cmd.Flags().IntVar(&opts.TaskMemory, "task-memory", 0, "memory (MiB) for the task, within the container's cap (default: the container's)")
	cmd.Flags().BoolVar(&opts.NoWait, "no-wait", false, "print the job id and exit once the request is queued")
	factory.JobOutputFlag(cmd, &opts.Output, "")
	cmd.Flags().BoolVar(&opts.Timestamps, "timestamps", false, "prefix each line of output with its time")
	return cmd
}

func runRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	// A state directory nobody serves gets its server started first, and
	// the server starts while this command loads its policy, opens the
	// state database and sends its request. A broken configuration stops
	// that server and fails fast (78) before the request is queued. A
	// return before Wait leaves it to stop once idle.
	starting, pol, err := jobview.BeginServing(f)
	if err != nil {
		return err
	}
	if starting != nil {
		defer starting.Abandon()
	}
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if starting == nil {
		served, err := c.Served()
		switch {
		case err != nil:
			return err
		case !served && pol == nil:
			// A server is still to be started (EnsureServed): the
			// configuration is checked before the request is queued.
			if pol, err = f.Policy(); err != nil {
				return err
			}
		case served:
			// The server decides with its own configuration: one given
			// here that differs is an error, not silently ignored.
			if err := f.CheckServedConfig(c); err != nil {
				return err
			}
		}
	}

	job, err := c.Submit(ctx, client.Request{
		Container:  opts.Container,
		Script:     opts.Script,
		Args:       opts.Args,
		TaskCPU:    opts.TaskCPU,
		TaskMemory: opts.TaskMemory,
		Caller:     producer.CallerFromEnv(f.Getenv),
		MaxWait:    opts.MaxWait,
	})
	if errors.Is(err, schemas.ErrTooLarge) {
		return factory.Usage(err)
	}
	if err != nil {
		return err
	}
	if starting != nil {
		if err := starting.Wait(); err != nil {
			return err
		}
	}
	if opts.NoWait {
		_, _ = fmt.Fprintln(f.IO.Out, job.ID)
		// After the request is sent: see EnsureServed.
		return jobview.EnsureServed(ctx, f, c, pol)
	}
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	p.Timestamps = opts.Timestamps
	p.Report = true
	p.SetRequest(opts.Container, opts.Script, opts.Args)
	p.Status("job %s submitted: %s %s", job.ID, opts.Container, jobview.Command(opts.Script, opts.Args))
	return jobview.Attach(ctx, f, c, pol, job, p, opts.MaxWait)
}

// checkNames makes an empty CONTAINER or SCRIPT argument (a shell
// variable that was not set, as in deployer run -- "$C" plan) a usage
// error (exit 64) that says which one, instead of a malformed request.
// usage is the command line's form, shown with the error.
func checkNames(usage, container, script string) error {
	var empty string
	switch c, s := strings.TrimSpace(container) == "", strings.TrimSpace(script) == ""; {
	case c && s:
		empty = "the container name and the script name are empty"
	case c:
		empty = "the container name is empty"
	case s:
		empty = "the script name is empty"
	default:
		return nil
	}
	return factory.Usage(fmt.Errorf("%s: %s", empty, usage))
}
