// Package logs implements "deployer logs": a job's complete output, from
// the task log, or followed live.
package logs

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/producer"
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
	cmd.Flags().StringVar(&opts.Output, "output", "text", factory.JobOutputHelp)
	return cmd
}

func runLogs(ctx context.Context, opts *Options) error {
	f := opts.Factory
	b, err := f.ReadBackend(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	p.Timestamps = opts.Timestamps
	p.Quiet = true
	if opts.Follow {
		job := producer.Job{ID: opts.JobID, Stream: b.StreamAddress(opts.JobID)}
		// Exits as "deployer wait" does.
		if err := jobview.Attach(ctx, f, b, nil, job, p, 0); !errors.Is(err, producer.ErrStreamGone) {
			return err
		}
	}
	history, err := b.Client().Replay(ctx, opts.JobID, func(a int, l schemas.LogLine) { p.Line(opts.JobID, a, l) })
	p.Flush()
	if _, ended := producer.Terminal(history); !ended && (err == nil || errors.Is(err, journal.ErrNotFound)) {
		// A job (or request) whose server died is adopted by a new one.
		jobview.EnsureServedOrWarn(ctx, f, b)
	}
	if errors.Is(err, journal.ErrNotFound) {
		return jobview.NoSuchJob(opts.JobID, b.Where())
	}
	return err
}
