// Package cancel implements "deployer cancel": ask the gatekeeper to
// cancel a job, say whether it accepted, and optionally follow the job to
// its end.
package cancel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/cli/wait"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// DefaultAnswerWait bounds the wait for the gatekeeper's answer.
const DefaultAnswerWait = 2 * time.Minute

// Options are the parsed command line of "deployer cancel".
type Options struct {
	Factory *factory.Factory

	JobID  string
	Reason string
	// Wait follows the job to its end after an accepted cancel.
	Wait bool
	// MaxWait bounds the follow of --wait.
	MaxWait time.Duration
	// AnswerWait bounds the wait for the gatekeeper's answer.
	AnswerWait time.Duration
	Output     string
}

// NewCmdCancel builds the command; runF replaces the action in tests.
func NewCmdCancel(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Cancel a job: stop its task, or keep it from starting",
		Long: `Cancel asks the gatekeeper to cancel a job. A caller may cancel a job it
submitted, or any job whose container and script the allow-list lets it run.
The worker tracking the job stops its task (the task's whole process group,
or its ECS task) and ends the job cancelled; a job still queued never starts.
Anyone following the job ("deployer run", "deployer wait") exits 130.

Exit codes: 0 the cancel was accepted (with --wait: the job ended cancelled
is 130, or the job's own exit code when it ended first), 77 rejected (the
caller may not cancel it, no such job, or it has already ended; the reason
code says which), 75 no answer within --answer-wait, 64 usage error.`,
		Example: `  deployer cancel 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E --reason "wrong ref"
  deployer cancel --wait 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if !schemas.ValidJobID(opts.JobID) {
				return factory.Usage(fmt.Errorf("%q is not a job id", opts.JobID))
			}
			if err := factory.CheckJobOutput(opts.Output); err != nil {
				return err
			}
			if len(opts.Reason) > schemas.MaxCancelReason {
				return factory.Usage(fmt.Errorf("--reason is longer than %d bytes", schemas.MaxCancelReason))
			}
			if opts.MaxWait <= 0 || opts.AnswerWait <= 0 {
				return factory.Usage(errors.New("--max-wait-time and --answer-wait must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCancel(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, recorded in the job's journal and shown with its end")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "after an accepted cancel, follow the job to its end and exit as \"deployer wait\" would (130 when cancelled)")
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "with --wait, how long to follow the job before giving up (exit 75)")
	cmd.Flags().DurationVar(&opts.AnswerWait, "answer-wait", DefaultAnswerWait, "how long to wait for the gatekeeper's answer (exit 75)")
	factory.JobOutputFlag(cmd, &opts.Output, "json prints the answer (and, with --wait, the job's events) one JSON object per line")
	return cmd
}

// answer is the JSON form of the gatekeeper's answer.
type answer struct {
	JobID      string `json:"job_id"`
	Accepted   bool   `json:"accepted"`
	ReasonCode string `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

func runCancel(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	// With no "deployer up", a detached server answers.
	if err := jobview.EnsureServed(ctx, f, c, nil); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, opts.AnswerWait)
	ans, err := c.Cancel(actx, opts.JobID, client.CancelOptions{
		Reason: opts.Reason, Caller: producer.CallerFromEnv(f.Getenv),
	})
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: no answer to the cancel of job %s within %s; it may still be handled (see deployer status %s)\n",
			opts.JobID, opts.AnswerWait, opts.JobID)
		return factory.Exit(producer.ExitGaveUp)
	default:
		return err
	}
	if err := printAnswer(f.IO.Out, f.IO.ErrOut, opts, ans); err != nil {
		return err
	}
	if !ans.Accepted {
		return factory.Exit(producer.ExitRejected)
	}
	if !opts.Wait {
		return nil
	}
	// The job's own output is not what a canceller asked for: text mode
	// shows its status lines only.
	p := jobview.NewFor(f, opts.Output)
	defer p.Close()
	p.NoLines = true
	err = jobview.Attach(ctx, f, c, nil, client.Job{ID: opts.JobID}, p, opts.MaxWait)
	if !errors.Is(err, client.ErrStreamGone) {
		return err
	}
	return wait.Replay(ctx, c, opts.JobID, p)
}

func printAnswer(out, errOut io.Writer, opts *Options, ans producer.CancelAnswer) error {
	if opts.Output == "json" {
		b, err := json.Marshal(answer{JobID: opts.JobID, Accepted: ans.Accepted, ReasonCode: ans.ReasonCode, Reason: ans.Reason})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	if ans.Accepted {
		_, err := fmt.Fprintf(out, "cancel of job %s accepted\n", opts.JobID)
		return err
	}
	_, err := fmt.Fprintf(errOut, "deployer: cancel of job %s rejected [%s]: %s\n", opts.JobID, ans.ReasonCode, ans.Reason)
	return err
}
