// Package logs implements "deployer logs": a job's complete output, from
// the task log, or followed live.
package logs

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of "deployer logs".
type Options struct {
	Factory    *factory.Factory
	JobID      string
	Follow     bool
	Timestamps bool
	Output     string
}

// NewCmdLogs builds the command; runF replaces the action in tests.
func NewCmdLogs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: "Print a job's output",
		Long: `Logs prints every line a job's task wrote so far, from the task log. With
--follow it keeps printing until the job ends, and exits with the same codes as
"deployer wait".`,
		Example: `  deployer logs 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer logs --follow --timestamps 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if !schemas.ValidJobID(opts.JobID) {
				return factory.Usage(fmt.Errorf("%q is not a job id", opts.JobID))
			}
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing until the job ends")
	cmd.Flags().BoolVar(&opts.Timestamps, "timestamps", false, "prefix each line with its time")
	factory.JobOutputFlag(cmd, &opts.Output, "")
	return cmd
}

func runLogs(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	p.Timestamps = opts.Timestamps
	p.Quiet = true
	if opts.Follow {
		// Exits as "deployer wait" does.
		if err := jobview.Attach(ctx, f, c, nil, client.Job{ID: opts.JobID}, p, 0); !errors.Is(err, client.ErrStreamGone) {
			return err
		}
	}
	history, err := c.Logs(ctx, opts.JobID, func(a int, l schemas.LogLine) { p.Line(opts.JobID, a, l) })
	p.Flush()
	if _, ended := client.Terminal(history); !ended && (err == nil || errors.Is(err, client.ErrNotFound)) {
		// A job (or request) whose server died is adopted by a new one.
		jobview.EnsureServedOrWarn(ctx, f, c)
	}
	if errors.Is(err, client.ErrNotFound) {
		return jobview.NoSuchJob(opts.JobID, c.Where())
	}
	return err
}
