// Package dlq implements "deployer dlq": list, show, replay and purge the
// dead letters of the embedded backend. Looking at the dead-letter queues
// consumes nothing: every letter a command does not replay or purge is
// handed back at once.
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/schemas"
)

// NewCmdDLQ builds "deployer dlq" and its subcommands.
func NewCmdDLQ(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, replay and purge dead-lettered jobs",
		Long: `Failed jobs land in a dead-letter queue with their reason: jobs whose task
failed, timed out, could not start or was lost land in the run queue's
dead-letter queue, requests the gatekeeper could not read in the request
queue's. Listing or showing them consumes nothing.

Replay sends a job's original request through the gatekeeper again (the
policy in force applies) as a new job whose id is derived from the original
("<id>-r1", then "-r2" for a replay of that replay), so replaying the same
dead letter twice starts one task. The dead letter is deleted only once the
gatekeeper has accepted the replay; a rejected replay keeps it. Which
outcomes dead-letter a job is set per script (dead_letter_on).`,
		Example: `  deployer dlq list
  deployer dlq show 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer dlq replay --wait 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E
  deployer dlq purge --older-than 168h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return factory.Usage(errors.New("dlq needs a subcommand: list, show, replay or purge"))
		},
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdShow(f, nil),
		NewCmdReplay(f, nil),
		NewCmdPurge(f, nil),
	)
	return cmd
}

// usageArgs makes an argument check's errors usage errors (exit 64).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return factory.Usage(err)
		}
		return nil
	}
}

func checkQueue(q string) error {
	switch q {
	case "", replay.QueueRun, replay.QueueRequest:
		return nil
	}
	return factory.Usage(fmt.Errorf("--queue must be run or request, not %q", q))
}

func checkJobIDs(ids []string) error {
	for _, id := range ids {
		if !schemas.ValidJobID(id) {
			return factory.Usage(fmt.Errorf("%q is not a job id", id))
		}
	}
	return nil
}

// withLetters opens the backend, scans the dead-letter queues which names
// and calls fn with the letters; whatever fn does not take (by returning
// it in kept == false) is handed back when it returns. With look (list,
// show), the backend is opened for reading and the letters are looked at
// where the queue allows it, not received (replay.Scanner.Look): a state
// directory the user cannot write can be looked at.
func withLetters(ctx context.Context, f *factory.Factory, which string, look bool,
	fn func(b backend.Backend, s *replay.Scanner) error) (err error) {
	open := f.Backend
	if look {
		open = f.ReadBackend
	}
	b, err := open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	s := replay.NewScanner(b, which)
	s.Look = look
	defer func() {
		if rerr := replay.Release(ctx, s.Letters); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := s.Scan(ctx); err != nil {
		return err
	}
	return fn(b, s)
}

// ListOptions are the parsed command line of "deployer dlq list".
type ListOptions struct {
	Factory *factory.Factory
	Queue   string
	Output  string
}

// NewCmdList builds "deployer dlq list"; runF replaces the action in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "list [--queue run|request] [--output text|json]",
		Short: "List dead-lettered jobs without consuming them",
		Long: `List prints one line per dead-lettered job: its id, queue, container and
script, outcome, reason code, attempts, when it failed and why. A job
dead-lettered more than once is listed once, with the count. With --output
json it prints one JSON object per job.`,
		Example: `  deployer dlq list
  deployer dlq list --queue run --output json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkQueue(opts.Queue); err != nil {
				return err
			}
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Queue, "queue", "", "only the run or the request dead-letter queue (default both)")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json for one JSON object per job")
	return cmd
}

// listEntry is one job in "dlq list --output json".
type listEntry struct {
	JobID      string          `json:"job_id,omitempty"`
	MessageID  string          `json:"message_id"`
	Queue      string          `json:"queue"`
	Container  string          `json:"container,omitempty"`
	Script     string          `json:"script,omitempty"`
	Outcome    schemas.Outcome `json:"outcome,omitempty"`
	ReasonCode string          `json:"reason_code"`
	Reason     string          `json:"reason"`
	ExitCode   *int            `json:"exit_code,omitempty"`
	Attempts   int             `json:"attempts"`
	Time       time.Time       `json:"time"`
	Count      int             `json:"count"`
	Replayable bool            `json:"replayable"`
}

func entry(g *replay.Group) listEntry {
	l := g.Newest()
	e := listEntry{
		JobID: l.DL.JobID, MessageID: l.Msg.ID, Queue: l.Queue,
		Outcome: l.DL.Failure.Outcome, ReasonCode: l.DL.Failure.ReasonCode, Reason: l.DL.Failure.Reason,
		ExitCode: l.DL.Failure.ExitCode, Attempts: l.DL.Failure.Attempts, Time: l.When().UTC(),
		Count: len(g.Letters), Replayable: l.DL.Request != nil,
	}
	if r := l.DL.Request; r != nil {
		e.Container, e.Script = r.Container, r.Script
	}
	return e
}

func runList(ctx context.Context, opts *ListOptions) error {
	f := opts.Factory
	return withLetters(ctx, f, opts.Queue, true, func(_ backend.Backend, s *replay.Scanner) error {
		gs := replay.Groups(s.Letters)
		if opts.Output == "json" {
			enc := json.NewEncoder(f.IO.Out)
			for _, g := range gs {
				if err := enc.Encode(entry(g)); err != nil {
					return err
				}
			}
			return nil
		}
		if len(gs) == 0 {
			_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: no dead letters")
			return nil
		}
		w := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(w, "JOB ID\tQUEUE\tJOB\tOUTCOME\tCODE\tATTEMPTS\tFAILED AT\tREASON")
		for _, g := range gs {
			e := entry(g)
			id := e.JobID
			if id == "" {
				id = "- (message " + e.MessageID + ")"
			}
			job := "(unreadable: not replayable)"
			if e.Replayable {
				job = e.Container + " " + e.Script
			}
			outcome := string(e.Outcome)
			if outcome == "" {
				outcome = "-"
			}
			reason := oneLine(e.Reason)
			if e.Count > 1 {
				reason += fmt.Sprintf(" [dead-lettered %d times]", e.Count)
			}
			_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", id, e.Queue, job, outcome, e.ReasonCode,
				e.Attempts, e.Time.Format(time.RFC3339), reason)
		}
		return w.Flush()
	})
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ShowOptions are the parsed command line of "deployer dlq show".
type ShowOptions struct {
	Factory *factory.Factory
	JobID   string
}

// NewCmdShow builds "deployer dlq show"; runF replaces the action in tests.
func NewCmdShow(f *factory.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "show JOB_ID",
		Short:   "Print a job's dead letter as JSON: its request, run order and failure",
		Example: `  deployer dlq show 01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if err := checkJobIDs(args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	return cmd
}

func runShow(ctx context.Context, opts *ShowOptions) error {
	f := opts.Factory
	return withLetters(ctx, f, "", true, func(b backend.Backend, s *replay.Scanner) error {
		g := replay.Find(replay.Groups(s.Letters), opts.JobID)
		if g == nil {
			return factory.NotFound(fmt.Errorf("no dead letter for job %s in the %s (see deployer dlq list)", opts.JobID, b.Where()))
		}
		out, err := json.MarshalIndent(g.Newest().DL, "", "  ")
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(f.IO.Out, "%s\n", out)
		if n := len(g.Letters); n > 1 {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: job %s was dead-lettered %d times; this is the newest\n", opts.JobID, n)
		}
		return nil
	})
}

// PurgeOptions are the parsed command line of "deployer dlq purge".
type PurgeOptions struct {
	Factory   *factory.Factory
	Queue     string
	OlderThan time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// NewCmdPurge builds "deployer dlq purge"; runF replaces the action in
// tests.
func NewCmdPurge(f *factory.Factory, runF func(context.Context, *PurgeOptions) error) *cobra.Command {
	opts := &PurgeOptions{Factory: f, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "purge --older-than DURATION [--queue run|request]",
		Short: "Delete dead letters that failed longer ago than a duration",
		Example: `  deployer dlq purge --older-than 168h
  deployer dlq purge --older-than 0s --queue request`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkQueue(opts.Queue); err != nil {
				return err
			}
			if !cmd.Flags().Changed("older-than") {
				return factory.Usage(errors.New("purge needs --older-than (e.g. --older-than 168h)"))
			}
			if opts.OlderThan < 0 {
				return factory.Usage(errors.New("--older-than must not be negative"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPurge(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.OlderThan, "older-than", 0, "delete dead letters whose job failed more than this long ago (0: all)")
	cmd.Flags().StringVar(&opts.Queue, "queue", "", "only the run or the request dead-letter queue (default both)")
	return cmd
}

func runPurge(ctx context.Context, opts *PurgeOptions) error {
	f := opts.Factory
	return withLetters(ctx, f, opts.Queue, false, func(_ backend.Backend, s *replay.Scanner) error {
		cutoff := opts.Now().Add(-opts.OlderThan)
		var old, kept []*replay.Letter
		for _, l := range s.Letters {
			if l.When().Before(cutoff) || opts.OlderThan == 0 {
				old = append(old, l)
			} else {
				kept = append(kept, l)
			}
		}
		s.Letters = kept
		if err := replay.Remove(ctx, old); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(f.IO.Out, "purged %d dead letters\n", len(old))
		return nil
	})
}
