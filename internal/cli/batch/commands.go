package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of the batch commands that take a
// batch id.
type Options struct {
	Factory *factory.Factory
	BatchID string
	Output  string
	MaxWait time.Duration
	// Reason is recorded with each cancel (batch cancel).
	Reason string
	// Job picks one job by position or key (batch logs).
	Job string
}

// NewCmdWait builds "deployer batch wait"; runF replaces the action in
// tests.
func NewCmdWait(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "wait BATCH_ID",
		Short: "Follow a batch to its end, from any machine",
		Long: `Wait follows a batch submitted earlier (by "batch run", here or elsewhere) to
its end, as "batch run" does, and exits with the same codes.`,
		Example: `  deployer batch wait batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer batch wait --max-wait-time 2h --output json batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: batchIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BatchID = args[0]
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if err := checkMaxWait(opts.MaxWait); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWait(cmd.Context(), opts)
		},
	}
	factory.JobOutputFlag(cmd, &opts.Output, "")
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "how long to follow the batch before giving up (exit 75); it keeps running")
	return cmd
}

func runWait(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := jobview.EnsureServed(ctx, f, c, nil); err != nil {
		return err
	}
	every, err := pollEvery(f)
	if err != nil {
		return err
	}
	return follow(ctx, f, c, newView(f, opts.Output), opts.BatchID, opts.MaxWait, every)
}

// NewCmdStatus builds "deployer batch status"; runF replaces the action
// in tests.
func NewCmdStatus(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "status BATCH_ID",
		Short: "Show a batch's jobs and their states",
		Long: `Status prints each job of a batch (position, key, state, job id, and why a
queued job waits or how an ended job ended) and a count by state, from one
read of the batch's journal. It exits 0 whatever the jobs' outcomes; 1 when
the backend has no record of the batch.`,
		Example: `  deployer batch status batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer batch status --output json batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: batchIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BatchID = args[0]
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json for one object")
	return cmd
}

func runStatus(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	batch, err := readBatch(ctx, c, opts.BatchID)
	if err != nil {
		return err
	}
	if !batch.Ended() {
		jobview.EnsureServedOrWarn(ctx, f, c)
	}
	if opts.Output == "json" {
		return json.NewEncoder(f.IO.Out).Encode(statusJSON(batch))
	}
	_, _ = fmt.Fprintf(f.IO.Out, "batch %s (%s), submitted %s by %s\n", jobview.Printable(batch.Name), batch.ID,
		batch.Since.UTC().Format(time.RFC3339), jobview.Printable(batch.Principal))
	if batch.MaxInFlight > 0 || batch.FailFast {
		_, _ = fmt.Fprintf(f.IO.Out, "max_in_flight %d, fail_fast %t\n", batch.MaxInFlight, batch.FailFast)
	}
	for _, j := range batch.Jobs {
		_, _ = fmt.Fprintln(f.IO.Out, stateLine(batch, j))
	}
	_, _ = fmt.Fprintln(f.IO.Out, countLine(batch))
	return nil
}

// readBatch reads a batch, saying plainly when the backend has no record
// of it.
func readBatch(ctx context.Context, c *client.Client, id string) (client.Batch, error) {
	batch, err := c.Batch(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return batch, factory.NotFound(fmt.Errorf("no batch %s in the %s: unknown, or its jobs have not reached the gatekeeper yet (see deployer batch list)", id, c.Where()))
	}
	return batch, err
}

// statusJSON is a batch as "batch status --output json" prints it.
func statusJSON(b producer.Batch) map[string]any {
	jobs := make([]map[string]any, 0, len(b.Jobs))
	for _, j := range b.Jobs {
		o := map[string]any{"index": j.Index, "key": j.Key, "job_id": j.JobID, "state": j.State,
			"container": j.Container, "script": j.Script, "argv": j.Argv, "lane": j.Lane, "reason": j.Reason}
		if !j.Started.IsZero() {
			o["started"] = j.Started
		}
		if t := j.Terminal; t != nil {
			o["ended"], o["outcome"], o["exit_code"] = j.Ended, t.Outcome, t.ExitCode
		}
		jobs = append(jobs, o)
	}
	out := map[string]any{"batch_id": b.ID, "name": b.Name, "principal": b.Principal, "since": b.Since,
		"max_in_flight": b.MaxInFlight, "fail_fast": b.FailFast, "ended": b.Ended(), "counts": b.Count(), "jobs": jobs}
	if b.Ended() {
		out["exit_code"] = b.ExitCode()
	}
	return out
}

// NewCmdCancel builds "deployer batch cancel"; runF replaces the action
// in tests.
func NewCmdCancel(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "cancel BATCH_ID",
		Short: "Cancel every job of a batch that has not ended",
		Long: `Cancel asks the gatekeeper to cancel each job of the batch that has not ended,
as "deployer cancel" does for one job: queued jobs never start, running
ones are stopped. It exits 0 when every cancel was accepted (or its job
had ended meanwhile), 1 otherwise, naming the jobs it could not cancel.`,
		Example: `  deployer batch cancel batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer batch cancel --reason "wrong base AMI" batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: batchIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BatchID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCancel(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, recorded with each job's end")
	return cmd
}

func runCancel(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	batch, err := readBatch(ctx, c, opts.BatchID)
	if err != nil {
		return err
	}
	if err := jobview.EnsureServed(ctx, f, c, nil); err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		failed []string
		asked  int
		wg     sync.WaitGroup
	)
	for _, j := range batch.Jobs {
		if j.Terminal != nil || j.JobID == "" {
			continue
		}
		asked++
		wg.Go(func() {
			a, err := c.Cancel(ctx, j.JobID, client.CancelOptions{Reason: opts.Reason, Caller: producer.CallerFromEnv(f.Getenv)})
			if err == nil && !a.Accepted && a.ReasonCode != "already_finished" {
				err = fmt.Errorf("%s: %s", a.ReasonCode, jobview.Printable(a.Reason))
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("job %s (%d/%d): %v", j.JobID, j.Index, len(batch.Jobs), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: batch %s: asked to cancel %d jobs that had not ended; %d accepted\n",
		batch.ID, asked, asked-len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("could not cancel %d jobs:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// NewCmdLogs builds "deployer batch logs"; runF replaces the action in
// tests.
func NewCmdLogs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "logs BATCH_ID",
		Short: "Print the output of a batch's jobs",
		Long: `Logs prints the output of each job of the batch that has started, job after
job in the batch's order, each under a header line, from the task logs (so
the output of jobs that have ended is complete). --job picks one job by its
position (3) or its key.`,
		Example: `  deployer batch logs batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer batch logs --job 3 batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: batchIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BatchID = args[0]
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Job, "job", "", "only the job at this position, or with this key")
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
	batch, err := readBatch(ctx, c, opts.BatchID)
	if err != nil {
		return err
	}
	picked := false
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	for _, j := range batch.Jobs {
		if opts.Job != "" && opts.Job != fmt.Sprint(j.Index) && opts.Job != j.Key {
			continue
		}
		picked = true
		p.Heading(stateLine(batch, j))
		if j.JobID == "" || j.Started.IsZero() && j.State != producer.StateRunning {
			continue
		}
		if _, err := c.Logs(ctx, j.JobID, func(a int, l schemas.LogLine) { p.Line(j.JobID, a, l) }); err != nil {
			p.Flush()
			return fmt.Errorf("output of job %s: %w", j.JobID, err)
		}
		p.Flush()
	}
	if !picked {
		return factory.Usage(fmt.Errorf("batch %s has no job at position or with key %q", batch.ID, opts.Job))
	}
	return nil
}
