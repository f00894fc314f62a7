// Package wait implements "deployer wait": re-attach to a job, print its
// output from the start, and exit as "deployer run" would have.
package wait

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of "deployer wait".
type Options struct {
	Factory    *factory.Factory
	JobID      string
	MaxWait    time.Duration
	Output     string
	Timestamps bool
}

// NewCmdWait builds the command; runF replaces the action in tests.
func NewCmdWait(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "wait JOB_ID",
		Short: "Re-attach to a job and exit with its exit code",
		Long: `Wait follows a job submitted earlier (by "deployer run --no-wait", or by a
"deployer run" that was stopped or gave up), printing its output from the
start, and exits with the same codes as "deployer run".`,
		Example: `  deployer wait 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer wait --max-wait-time 30m --timestamps 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if !schemas.ValidJobID(opts.JobID) {
				return factory.Usage(fmt.Errorf("%q is not a job id", opts.JobID))
			}
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if opts.MaxWait <= 0 {
				return factory.Usage(errors.New("--max-wait-time must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWait(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "how long to follow the job before giving up (exit 75)")
	factory.JobOutputFlag(cmd, &opts.Output, "")
	cmd.Flags().BoolVar(&opts.Timestamps, "timestamps", false, "prefix each line of output with its time")
	return cmd
}

func runWait(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	p.Timestamps = opts.Timestamps
	p.Report = true

	err = jobview.Attach(ctx, f, c, nil, client.Job{ID: opts.JobID}, p, opts.MaxWait)
	if !errors.Is(err, producer.ErrStreamGone) {
		return err
	}
	// The stream expired: the journal and the task log still have it all.
	return Replay(ctx, c, opts.JobID, p)
}

// Replay prints a job from its journal and task log and returns the error
// carrying its exit code: the job's when it ended, 75 when it has not.
func Replay(ctx context.Context, c *client.Client, jobID string, p *jobview.Printer) error {
	history, err := c.Logs(ctx, jobID, func(a int, l schemas.LogLine) { p.Line(jobID, a, l) })
	if errors.Is(err, client.ErrNotFound) {
		p.Flush()
		return jobview.NoSuchJob(jobID, c.Where())
	}
	if err != nil {
		p.Flush()
		return fmt.Errorf("no stream and no history for job %s: %w", jobID, err)
	}
	for _, ev := range history {
		if !ev.Type.Terminal() {
			p.Event(ev)
		}
	}
	t, ok := producer.Terminal(history)
	if !ok {
		p.Status("job %s has not ended and its stream is gone; see deployer status %s", jobID, jobID)
		return factory.Exit(producer.ExitGaveUp)
	}
	p.Event(t)
	p.Flush()
	if code := producer.ExitCode(t); code != 0 {
		return factory.Exit(code)
	}
	return nil
}
