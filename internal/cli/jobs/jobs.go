// Package jobs implements "deployer jobs": the jobs the journal holds,
// newest first, by state, container, lane, batch and age.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// clock is what --since and ages are measured from; tests replace it.
var clock = time.Now

// Options are the parsed command line of "deployer jobs".
type Options struct {
	Factory   *factory.Factory
	States    []producer.JobState
	Container string
	Lane      string
	BatchID   string
	// Since keeps jobs submitted at or after it (zero: no bound).
	Since  time.Time
	Limit  int
	Output string
	// Now is the clock --since and ages are measured with. Defaults to
	// time.Now.
	Now func() time.Time
}

// NewCmdJobs builds the command; runF replaces the action in tests.
func NewCmdJobs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	var states []string
	var since string
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List jobs, newest first",
		Long: `Jobs lists the jobs the journal holds, newest first, with their state:
queued (accepted, not yet started: its lane is full or no worker took it
yet), running, or how it ended (succeeded, failed, rejected, timed_out,
cancelled, could_not_start, lost). "deployer status JOB_ID" says why a
queued job waits.`,
		Example: `  deployer jobs --state queued,running
  deployer jobs --container infra --since 2h --output json
  deployer jobs --batch batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.parse(states, since); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobs(cmd.Context(), opts)
		},
	}
	names := make([]string, 0, len(producer.JobStates()))
	for _, s := range producer.JobStates() {
		names = append(names, string(s))
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "keep jobs in these states (repeat or separate with commas): "+strings.Join(names, ", "))
	cmd.Flags().StringVar(&opts.Container, "container", "", "keep jobs of this container")
	cmd.Flags().StringVar(&opts.Lane, "lane", "", "keep jobs of this lane")
	cmd.Flags().StringVar(&opts.BatchID, "batch", "", "list the jobs of this batch (a batch id, batch-<ULID>)")
	cmd.Flags().StringVar(&since, "since", "", "keep jobs submitted since a time (RFC 3339) or for a duration (2h, 30m)")
	cmd.Flags().IntVar(&opts.Limit, "limit", producer.DefaultJobsLimit, "list at most this many jobs")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json for one object per job and line")
	return cmd
}

// parse checks the flags' values: anything wrong is a usage error.
func (o *Options) parse(states []string, since string) error {
	if o.Now == nil {
		o.Now = clock
	}
	o.States = nil
	for _, s := range states {
		st := producer.JobState(strings.TrimSpace(s))
		if !slices.Contains(producer.JobStates(), st) {
			return factory.Usage(fmt.Errorf("unknown state %q: want one of %v", s, producer.JobStates()))
		}
		if !slices.Contains(o.States, st) {
			o.States = append(o.States, st)
		}
	}
	if since != "" {
		t, err := parseSince(since, o.Now())
		if err != nil {
			return factory.Usage(err)
		}
		o.Since = t
	}
	if o.BatchID != "" && !schemas.ValidBatchID(o.BatchID) {
		return factory.Usage(fmt.Errorf("%q is not a batch id (batch- and a ULID, such as batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E)", o.BatchID))
	}
	if o.Limit < 1 {
		return factory.Usage(fmt.Errorf("--limit must be at least 1, not %d", o.Limit))
	}
	return factory.CheckOutput(o.Output)
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: a duration back from now must not be negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q is neither a duration (2h, 30m) nor an RFC 3339 time (2026-01-02T15:04:05Z)", s)
	}
	return t, nil
}

func runJobs(ctx context.Context, opts *Options) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	sums, err := c.Jobs(ctx, client.JobFilter{
		States: opts.States, Container: opts.Container, Lane: opts.Lane,
		BatchID: opts.BatchID, Since: opts.Since, Limit: opts.Limit,
	})
	if errors.Is(err, client.ErrNotFound) && opts.BatchID != "" {
		return factory.NotFound(fmt.Errorf("no batch %s in the %s: unknown, or its jobs have not reached the gatekeeper yet (see deployer batch list)", opts.BatchID, c.Where()))
	}
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return WriteJSON(f.IO.Out, sums)
	}
	return WriteTable(f.IO.Out, sums, opts.Now())
}

// Job is one line of "deployer jobs --output json".
type Job struct {
	JobID     string          `json:"job_id"`
	State     string          `json:"state"`
	Container string          `json:"container,omitempty"`
	Script    string          `json:"script,omitempty"`
	Argv      []string        `json:"argv,omitempty"`
	Canary    bool            `json:"canary,omitempty"`
	Lane      string          `json:"lane,omitempty"`
	BatchID   string          `json:"batch_id,omitempty"`
	BatchKey  string          `json:"batch_key,omitempty"`
	Principal string          `json:"principal,omitempty"`
	Attempt   int             `json:"attempt"`
	Submitted *time.Time      `json:"submitted,omitempty"`
	Started   *time.Time      `json:"started,omitempty"`
	Ended     *time.Time      `json:"ended,omitempty"`
	ExitCode  *int            `json:"exit_code,omitempty"`
	Outcome   schemas.Outcome `json:"outcome,omitempty"`
	Reason    string          `json:"reason,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// WriteJSON writes one JSON object (Job) per summary and line.
func WriteJSON(w io.Writer, sums []producer.JobSummary) error {
	enc := json.NewEncoder(w)
	for _, s := range sums {
		if err := enc.Encode(Job{
			JobID: s.JobID, State: string(s.State), Container: s.Container, Script: s.Script, Argv: s.Argv, Canary: s.Canary,
			Lane: s.Lane, BatchID: s.BatchID, BatchKey: s.BatchKey, Principal: s.Principal, Attempt: s.Attempt,
			Submitted: timePtr(s.Submitted), Started: timePtr(s.Started), Ended: timePtr(s.Ended),
			ExitCode: s.ExitCode, Outcome: s.Outcome, Reason: s.Reason,
		}); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes the summaries as an aligned table, every field
// escaped to printable text.
func WriteTable(w io.Writer, sums []producer.JobSummary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "JOB ID\tSTATE\tCONTAINER\tSCRIPT\tLANE\tBATCH\tAGE\tEXIT")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return jobview.Printable(s)
	}
	for _, s := range sums {
		script := ""
		switch {
		case s.Canary:
			script = jobview.CanaryCommand
		case s.Script != "":
			script = jobview.Command(s.Script, s.Argv)
		}
		batch := s.BatchID
		if batch != "" && s.BatchKey != "" {
			batch += " (" + s.BatchKey + ")"
		}
		exit := ""
		if s.ExitCode != nil {
			exit = strconv.Itoa(*s.ExitCode)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(s.JobID), dash(string(s.State)),
			dash(s.Container), dash(script), dash(s.Lane), dash(batch), Age(now, s.Submitted), dash(exit))
	}
	return tw.Flush()
}

// Age writes how long ago t was, to the largest whole unit: 45s, 12m,
// 3h, 2d; "-" for a zero t.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
