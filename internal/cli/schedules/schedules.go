// Package schedules implements "deployer schedules": the configuration's
// schedules with their next due times, last run, failures in a row and
// whether they are paused; and "deployer schedules pause|resume NAME".
package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/schedule/cronspec"
	"github.com/deployerhq/deployer/schemas"
)

// NextRuns is how many due times the listing shows per schedule.
const NextRuns = 3

// Options are the parsed command line of "deployer schedules".
type Options struct {
	Factory *factory.Factory
	Output  string
	// Action is "", "pause" or "resume"; Name the schedule it acts on.
	Action string
	Name   string
	// Now is the clock next runs are computed from. Defaults to time.Now.
	Now func() time.Time
}

// NewCmdSchedules builds the command and its pause and resume
// subcommands; runF replaces the action in tests.
func NewCmdSchedules(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	run := func(cmd *cobra.Command) error {
		if opts.Now == nil {
			opts.Now = time.Now
		}
		if err := factory.CheckOutput(opts.Output); err != nil {
			return err
		}
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return runSchedules(cmd.Context(), opts)
	}
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List schedules: next runs, last run, failures, paused",
		Long: `Schedules lists the configuration's schedules: the next 3 due times in
each schedule's time zone, the last run (its job id and how it ended), the
failures in a row, and whether the schedule is paused.

On the embedded backend "deployer up" fires schedules, as the caller
"schedule:NAME". A schedule pauses after pause_after_failures failures in
a row; "deployer schedules resume NAME" resumes it and resets the count.

On AWS, EventBridge Scheduler fires them; the last run, failures and the
paused state are not known here (pause with the Terraform module's
schedules variable, state = "DISABLED").`,
		Example: `  deployer schedules
  deployer schedules --output json
  deployer schedules pause nightly-amis
  deployer schedules resume nightly-amis`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
	cmd.PersistentFlags().StringVar(&opts.Output, "output", "text", "text, or json for one object per schedule and line")
	for _, action := range []string{"pause", "resume"} {
		short := "Pause a schedule: it fires no more until resumed"
		if action == "resume" {
			short = "Resume a paused schedule and reset its failure count"
		}
		cmd.AddCommand(&cobra.Command{
			Use:     action + " NAME",
			Short:   short,
			Example: "  deployer schedules " + action + " nightly-amis",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.Action, opts.Name = action, args[0]
				return run(cmd)
			},
		})
	}
	return cmd
}

// Schedule is one schedule of the listing (one line of --output json).
type Schedule struct {
	Name               string      `json:"name"`
	Cron               string      `json:"cron"`
	TimeZone           string      `json:"time_zone"`
	Container          string      `json:"container"`
	Script             string      `json:"script"`
	Args               []string    `json:"args,omitempty"`
	Overlap            string      `json:"overlap"`
	PauseAfterFailures int         `json:"pause_after_failures"`
	Next               []time.Time `json:"next"`
	// Paused, PauseReason, Failures and Last are null when not known
	// (AWS).
	Paused      *bool    `json:"paused"`
	PauseReason string   `json:"pause_reason,omitempty"`
	Failures    *int     `json:"failures"`
	Last        *LastRun `json:"last_run"`
	// Unknown says what this backend cannot tell.
	Unknown string `json:"unknown,omitempty"`
}

// LastRun is a schedule's latest fire.
type LastRun struct {
	Due    time.Time `json:"due"`
	JobID  string    `json:"job_id,omitempty"`
	Status string    `json:"status"`
	// State is the job's state now (queued, running, succeeded, ...).
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

func runSchedules(ctx context.Context, opts *Options) error {
	f := opts.Factory
	pol, err := f.Policy()
	if err != nil {
		return err
	}
	cfg := pol.Config().Schedules
	if opts.Action != "" {
		if _, ok := cfg[opts.Name]; !ok {
			return factory.Usage(fmt.Errorf("no schedule %q in the configuration (schedules: %s)", opts.Name, strings.Join(names(cfg), ", ")))
		}
	}
	name, err := f.ResolveBackend()
	if err != nil {
		return err
	}
	if name == factory.BackendAWS {
		if opts.Action != "" {
			return factory.Usage(fmt.Errorf("on AWS, EventBridge Scheduler holds the paused state: set state = \"DISABLED\" (or \"ENABLED\") for %s in the Terraform module's schedules variable", opts.Name))
		}
		list := List(cfg, nil, nil, opts.Now())
		for i := range list {
			list[i].Unknown = "last run, failures and paused state are kept by EventBridge Scheduler, not known here; see deployer jobs"
		}
		return write(f.IO.Out, opts.Output, list)
	}
	if opts.Action != "" {
		c, err := f.Client(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		if opts.Action == "pause" {
			if err := c.PauseSchedule(ctx, opts.Name, "paused by command"); err != nil {
				return err
			}
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: schedule %s paused\n", opts.Name)
			return nil
		}
		if err := c.ResumeSchedule(ctx, opts.Name); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: schedule %s resumed; its next due time runs\n", opts.Name)
		return nil
	}
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	states, err := States(ctx, c, cfg)
	if err != nil {
		return err
	}
	jobState := func(id string) string {
		s, err := c.Status(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			return "sent"
		}
		if err != nil {
			return "unknown"
		}
		return string(s.State)
	}
	return write(f.IO.Out, opts.Output, List(cfg, states, jobState, opts.Now()))
}

func names(cfg map[string]schemas.Schedule) []string {
	out := make([]string, 0, len(cfg))
	for n := range cfg {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// States reads the state of each of cfg's schedules through c; nil, and
// no error, where the backend keeps them beyond the client's reach (AWS:
// EventBridge Scheduler).
func States(ctx context.Context, c *client.Client, cfg map[string]schemas.Schedule) (map[string]client.ScheduleState, error) {
	states := map[string]client.ScheduleState{}
	for _, n := range names(cfg) {
		st, err := c.ScheduleState(ctx, n)
		if errors.Is(err, client.ErrNotSupported) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		states[n] = st
	}
	return states, nil
}

// List builds the listing, sorted by name. states (nil: not known) are
// the stored states; jobState, when set, says how a job stands now.
func List(cfg map[string]schemas.Schedule, states map[string]client.ScheduleState, jobState func(string) string, now time.Time) []Schedule {
	var out []Schedule
	for _, n := range names(cfg) {
		c := cfg[n]
		s := Schedule{Name: n, Cron: c.Cron, TimeZone: c.EffectiveTimeZone(), Container: c.Container, Script: c.Script,
			Args: c.Args, Overlap: c.EffectiveOverlap(), PauseAfterFailures: c.PauseAfterFailures, Next: []time.Time{}}
		if spec, err := cronspec.Parse(c.Cron, c.TimeZone); err == nil {
			t := now
			for range NextRuns {
				if t = spec.Next(t); t.IsZero() {
					break
				}
				s.Next = append(s.Next, t)
			}
		}
		if states != nil {
			st := states[n]
			s.Paused, s.Failures, s.PauseReason = &st.Paused, &st.Failures, st.PauseReason
			if f := st.Last; f != nil {
				lr := &LastRun{Due: f.Due.In(locOf(s.Next, now)), JobID: f.JobID, Status: f.Status, State: f.Outcome, Error: f.Error}
				if lr.State == "" && f.Status == client.FireSubmitted && jobState != nil {
					lr.State = jobState(f.JobID)
				}
				s.Last = lr
			}
		}
		out = append(out, s)
	}
	return out
}

func locOf(next []time.Time, now time.Time) *time.Location {
	if len(next) > 0 {
		return next[0].Location()
	}
	return now.Location()
}

func write(w io.Writer, output string, list []Schedule) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		for _, s := range list {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No schedules in the configuration.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "SCHEDULE\tCRON\tZONE\tSCRIPT\tNEXT\tLAST RUN\tFAILURES\tPAUSED")
	for _, s := range list {
		var next []string
		for _, t := range s.Next {
			next = append(next, t.Format("2006-01-02 15:04 MST"))
		}
		last, failures, paused := "-", "?", "?"
		if s.Failures != nil {
			failures = fmt.Sprint(*s.Failures)
			if s.PauseAfterFailures > 0 {
				failures += fmt.Sprintf("/%d", s.PauseAfterFailures)
			}
		}
		if s.Paused != nil {
			paused = "no"
			if *s.Paused {
				paused = "yes"
				if s.PauseReason != "" {
					paused += " (" + s.PauseReason + ")"
				}
			}
		}
		switch {
		case s.Unknown != "":
			last = "?"
		case s.Last != nil:
			last = s.Last.Due.Format("2006-01-02 15:04 MST") + " "
			switch {
			case s.Last.JobID != "" && s.Last.State != "":
				last += s.Last.JobID + " " + s.Last.State
			case s.Last.JobID != "":
				last += s.Last.JobID + " " + s.Last.Status
			default:
				last += s.Last.Status
			}
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", jobview.Printable(s.Name), jobview.Printable(s.Cron), s.TimeZone,
			jobview.Printable(s.Container+"/"+s.Script), strings.Join(next, ", "), jobview.Printable(last), failures, jobview.Printable(paused))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if s.Unknown != "" {
			_, err := fmt.Fprintf(w, "\nOn AWS: %s.\n", s.Unknown)
			return err
		}
	}
	return nil
}
