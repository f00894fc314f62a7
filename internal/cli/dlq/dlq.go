// Package dlq implements "deployer dlq": list, show, replay and purge the
// dead letters of the backend, through the client's dead-letter methods.
// Looking at the dead-letter queues consumes nothing: every letter a
// command does not replay or purge is handed back at once.
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

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
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
	case "", string(client.RunDeadLetters), string(client.RequestDeadLetters):
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

func entry(d client.DeadLetter) listEntry {
	f := d.Letter.Failure
	e := listEntry{
		JobID: d.JobID, MessageID: d.MessageID, Queue: string(d.Queue),
		Outcome: f.Outcome, ReasonCode: f.ReasonCode, Reason: f.Reason,
		ExitCode: f.ExitCode, Attempts: f.Attempts, Time: d.FailedAt,
		Count: d.Count, Replayable: d.Replayable(),
	}
	if r := d.Letter.Request; r != nil {
		e.Container, e.Script = r.Container, r.Script
	}
	return e
}

func runList(ctx context.Context, opts *ListOptions) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	letters, err := c.DeadLetters(ctx, client.DeadLetterOptions{Queue: client.DeadLetterQueue(opts.Queue)})
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		for _, d := range letters {
			if err := enc.Encode(entry(d)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(letters) == 0 {
		_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: no dead letters")
		return nil
	}
	w := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "JOB ID\tQUEUE\tJOB\tOUTCOME\tCODE\tATTEMPTS\tFAILED AT\tREASON")
	for _, d := range letters {
		e := entry(d)
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
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	d, err := c.DeadLetter(ctx, opts.JobID)
	if errors.Is(err, client.ErrNotFound) {
		return factory.NotFound(fmt.Errorf("no dead letter for job %s in the %s (see deployer dlq list)", opts.JobID, c.Where()))
	}
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(d.Letter, "", "  ")
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(f.IO.Out, "%s\n", out)
	if d.Count > 1 {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: job %s was dead-lettered %d times; this is the newest\n", opts.JobID, d.Count)
	}
	return nil
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
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	po := client.PurgeOptions{Queue: client.DeadLetterQueue(opts.Queue)}
	if opts.OlderThan > 0 {
		po.Before = opts.Now().Add(-opts.OlderThan)
	}
	n, err := c.PurgeDeadLetters(ctx, po)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(f.IO.Out, "purged %d dead letters\n", n)
	return nil
}
