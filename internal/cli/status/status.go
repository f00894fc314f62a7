// Package status implements "deployer status": where a job is, from its
// journal.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of "deployer status".
type Options struct {
	Factory *factory.Factory
	JobID   string
	Output  string
}

// NewCmdStatus builds the command; runF replaces the action in tests.
func NewCmdStatus(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "status JOB_ID",
		Short: "Show where a job is and how it ended",
		Long: `Status prints a job's state from its journal. It exits 0 when the job is
known (whatever its state), and 1 when nothing has recorded it yet.`,
		Example: `  deployer status 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer status --output json 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if !schemas.ValidJobID(opts.JobID) {
				return factory.Usage(fmt.Errorf("%q is not a job id (a 26-character ULID such as 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E)", opts.JobID))
			}
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json for the job's events, one per line")
	return cmd
}

func runStatus(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	history, err := c.History(ctx, opts.JobID)
	if _, ended := client.Terminal(history); !ended && (err == nil || errors.Is(err, client.ErrNotFound)) {
		// A job (or request) whose server died is adopted by a new one.
		jobview.EnsureServedOrWarn(ctx, f, c)
	}
	if errors.Is(err, client.ErrNotFound) {
		return jobview.NoSuchJob(opts.JobID, c.Where())
	}
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		for _, ev := range history {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	wait, err := c.WaitReason(ctx, client.Summarize(history))
	if err != nil {
		// The state stands without the reason.
		wait = "unknown: " + err.Error()
	}
	return summarize(f.IO.Out, opts.JobID, history, wait)
}

// Summarize prints a job's history as a short table.
func Summarize(w io.Writer, jobID string, history []schemas.JobEvent) error {
	return summarize(w, jobID, history, "")
}

// summarize prints a job's history as a short table, with why it waits
// (see client.Client.WaitReason) when wait is set.
func summarize(w io.Writer, jobID string, history []schemas.JobEvent, wait string) error {
	var s struct {
		container, command, task, state, reason, requester, cancel string
		policy                                                     string
		attempt                                                    int
		exit                                                       *int
	}
	s.state = "submitted"
	for _, ev := range history {
		s.attempt = max(s.attempt, ev.Attempt)
		if ev.PolicyDigest != "" && (ev.Type == schemas.EventAccepted || ev.Type == schemas.EventRejected) {
			s.policy = ev.PolicyDigest + " (decided under)"
		}
		switch ev.Type {
		case schemas.EventAccepted:
			s.container, s.command = ev.Container, jobview.Command(ev.Script, ev.Argv)
			if ev.Canary {
				s.command = jobview.CanaryCommand
			}
			s.state, s.requester = "accepted", ev.Principal
		case schemas.EventCancelRequested:
			s.cancel = "requested by " + ev.Principal
			if ev.Reason != "" {
				s.cancel += ": " + ev.Reason
			}
		case schemas.EventQueued:
			s.state = "queued"
		case schemas.EventStarting:
			s.state = "starting"
		case schemas.EventStarted:
			s.task, s.state = ev.TaskID, "running"
		case schemas.EventRejected, schemas.EventFinished, schemas.EventFailed, schemas.EventCancelled:
			s.state = string(ev.Type)
			if string(ev.Outcome) != s.state {
				// "finished (succeeded)", but "cancelled", not "cancelled (cancelled)".
				s.state += " (" + string(ev.Outcome) + ")"
			}
			s.exit, s.reason = ev.ExitCode, ev.Reason
			if s.container == "" {
				s.container, s.command = ev.Container, ev.Script
				if ev.Canary {
					s.command = jobview.CanaryCommand
				}
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			_, _ = fmt.Fprintf(tw, "%s\t%s\n", k, jobview.Printable(v))
		}
	}
	row("job", jobID)
	row("container", s.container)
	row("command", s.command)
	row("requester", s.requester)
	row("policy", s.policy)
	row("state", s.state)
	row("waiting", wait)
	row("cancel", s.cancel)
	if s.exit != nil {
		row("exit code", fmt.Sprint(*s.exit))
	}
	row("reason", s.reason)
	row("task", s.task)
	row("attempt", fmt.Sprint(max(s.attempt, 1)))
	if t, ok := producer.Terminal(history); ok {
		row("exit status", fmt.Sprintf("deployer run would exit %d", producer.ExitCode(t)))
	}
	if n := len(history); n > 0 {
		row("updated", history[n-1].Time.Format("2006-01-02 15:04:05.000 MST"))
	}
	return tw.Flush()
}
