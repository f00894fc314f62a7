package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/manifest"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// RunOptions are the parsed command line of "deployer batch run".
type RunOptions struct {
	Factory *factory.Factory
	File    string
	NoWait  bool
	Output  string
	MaxWait time.Duration
}

// NewCmdRun builds "deployer batch run"; runF replaces the action in tests.
func NewCmdRun(f *factory.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "run -f FILE",
		Short: "Submit a manifest's jobs as one batch and follow it to its end",
		Long: `Run reads a batch manifest (see docs/batches.md and schemas/batch.schema.json),
submits its jobs under one batch id, and follows the batch to its end: a
live table on a terminal, one line per change of a job's state otherwise,
or (--output json) each job event as a JSON line. A summary comes at the end.

It exits 0 when every job succeeded. Otherwise it exits with the code
"deployer run" gives the first job that failed (by the time it ended; the
task's own exit code, 77 rejected, 124 timed out, 69 could not start, 75
lost), leaving aside the jobs that were cancelled; with 130 when jobs were
cancelled and none failed. Also: 75 gave up waiting (--max-wait-time; the
batch keeps running: "deployer batch wait ID" re-attaches), 64 a manifest
or command line that is not valid, 78 a configuration error.

With --no-wait it prints the batch id once every job is submitted. The
batch runs to its end without anyone following it.`,
		Example: `  deployer batch run -f nightly-amis.yaml
  deployer batch run --no-wait -f nightly-amis.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.File == "" {
				return factory.Usage(errors.New("batch run needs a manifest: -f FILE"))
			}
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if err := checkMaxWait(opts.MaxWait); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.File, "file", "f", "", "the batch manifest (YAML)")
	cmd.Flags().BoolVar(&opts.NoWait, "no-wait", false, "print the batch id and exit once every job is submitted")
	factory.JobOutputFlag(cmd, &opts.Output, "")
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "how long to follow the batch before giving up (exit 75); it keeps running")
	return cmd
}

func runRun(ctx context.Context, opts *RunOptions) error {
	f := opts.Factory
	m, err := manifest.Load(opts.File)
	if err != nil {
		return factory.Usage(err)
	}
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	// A broken configuration fails before anything is submitted (78) when
	// this command is to start the server.
	var pol *policy.Policy
	served, err := c.Served()
	if err != nil {
		return err
	}
	if !served {
		if pol, err = f.Policy(); err != nil {
			return err
		}
	} else if err := f.CheckServedConfig(c); err != nil {
		// The server decides with its own configuration: one given
		// here that differs is an error, not silently ignored.
		return err
	}
	req := producer.BatchRequest{
		Name: m.Name, MaxInFlight: m.MaxInFlight, FailFast: m.FailFast,
		Caller: producer.CallerFromEnv(f.Getenv), MaxWait: opts.MaxWait,
	}
	for _, j := range m.Jobs {
		req.Jobs = append(req.Jobs, producer.BatchJobRequest{
			Container: j.Container, Script: j.Script, Args: j.Args, Key: j.Key,
			Timeout: j.Timeout, TaskCPU: j.TaskCPU, TaskMemory: j.TaskMemory,
		})
	}
	id, jobs, err := c.SubmitBatch(ctx, req)
	if err != nil {
		if errors.Is(err, schemas.ErrTooLarge) {
			return factory.Usage(err)
		}
		return err
	}
	// After the requests are sent: see EnsureServed.
	if err := jobview.EnsureServed(ctx, f, c, pol); err != nil {
		return err
	}
	if opts.NoWait {
		_, _ = fmt.Fprintln(f.IO.Out, id)
		return nil
	}
	every, err := pollEvery(f)
	if err != nil {
		return err
	}
	v := newView(f, opts.Output)
	v.status("batch %s submitted: %s, %d jobs", id, m.Name, len(jobs))
	return follow(ctx, f, c, v, id, opts.MaxWait, every)
}
