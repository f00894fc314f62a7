package dlq

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// ReplayOptions are the parsed command line of "deployer dlq replay".
type ReplayOptions struct {
	Factory *factory.Factory
	JobIDs  []string
	All     bool
	// Container, Script, Batch and Since select dead letters; with job
	// ids they narrow them.
	Container string
	Script    string
	Batch     string
	Since     time.Time
	DryRun    bool
	Yes       bool
	Wait      bool
	MaxWait   time.Duration
	// AnswerWait bounds the wait for the gatekeeper's answers.
	AnswerWait time.Duration
	Output     string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Filter is the selection the options make.
func (o *ReplayOptions) Filter() client.DeadLetterFilter {
	return client.DeadLetterFilter{JobIDs: o.JobIDs, All: o.All, Container: o.Container, Script: o.Script, BatchID: o.Batch, Since: o.Since}
}

// NewCmdReplay builds "deployer dlq replay"; runF replaces the action in
// tests.
func NewCmdReplay(f *factory.Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{Factory: f, Now: time.Now}
	var filter, since string
	cmd := &cobra.Command{
		Use:   "replay [JOB_ID...] [--all] [--container C] [--script S] [--batch B] [--since T] [--dry-run] [--yes] [--wait]",
		Short: "Resubmit dead-lettered jobs through the gatekeeper",
		Long: `Replay sends the original request of each selected dead letter through the
request queue again: the gatekeeper checks it under the policy in force, as
it would any request. Select dead letters by job id, or by --container,
--script, --batch and --since (which narrow job ids when both are given),
or take them all with --all.

--dry-run sends nothing: it prints how many dead letters match and, for
each, its verdict under the policy in force (the configuration, loaded as
the server loads it): would replay, or would be rejected and why. A real
replay judges each one the same way first and sends only what would be
replayed.

A dead letter is deleted only once the gatekeeper has accepted its replay.
One the policy rejects keeps its dead letter and says why; replay it again
once the policy is fixed. The replay's job id is derived from the original
("<id>-r1"; a replay of "<id>-r1" is "<id>-r2"), so a replay that was
accepted runs once however often it is asked for: asking again answers
"already replayed as <id>-r1 (state)".

Replaying more than one job asks for confirmation on a terminal; --yes
skips the question. Off a terminal (CI, scripts) more than one job needs
--yes: without it replay refuses (exit 64) rather than guess.

Without --wait it prints the replay job ids on stdout, one per line (with
--output json: one JSON object per dead letter, with its verdict). With
--wait it follows the new jobs one after the other, as "deployer run"
would, and exits with the first non-zero exit code. Exit code 1 when any
selected dead letter was not replayed.`,
		Example: `  deployer dlq replay 01J9Z8Y7X6W5V4T3S2R1Q0P9NM --wait
  deployer dlq replay --container terraform-planner --since 24h --dry-run
  deployer dlq replay --batch batch-01J9Z8Y7X6W5V4T3S2R1Q0P9NM --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.All && len(args) > 0:
				return factory.Usage(errors.New("give job ids or --all, not both"))
			case filter != "" && !opts.All:
				return factory.Usage(errors.New("--filter goes with --all (or use --container and --script)"))
			}
			return checkJobIDs(args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobIDs = args
			if err := parseFilter(filter, opts); err != nil {
				return err
			}
			if since != "" {
				t, err := parseSince(since, opts.Now())
				if err != nil {
					return err
				}
				opts.Since = t
			}
			if opts.Batch != "" && !schemas.ValidBatchID(opts.Batch) {
				return factory.Usage(fmt.Errorf("--batch: %q is not a batch id", opts.Batch))
			}
			if opts.Filter().Empty() {
				return factory.Usage(errors.New("replay needs job ids, --all, or a filter: --container, --script, --batch or --since"))
			}
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if opts.DryRun && opts.Wait {
				return factory.Usage(errors.New("--dry-run replays nothing to --wait for"))
			}
			if opts.MaxWait <= 0 || opts.AnswerWait <= 0 {
				return factory.Usage(errors.New("--max-wait-time and --answer-wait must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runReplay(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "every dead letter (narrowed by the filters)")
	cmd.Flags().StringVar(&opts.Container, "container", "", "only dead letters of this container")
	cmd.Flags().StringVar(&opts.Script, "script", "", "only dead letters of this script")
	cmd.Flags().StringVar(&opts.Batch, "batch", "", "only dead letters of this batch")
	cmd.Flags().StringVar(&since, "since", "", "only jobs that failed since: a duration back from now (24h) or an RFC 3339 time")
	cmd.Flags().StringVar(&filter, "filter", "", "with --all: container=NAME and/or script=NAME, comma-separated")
	_ = cmd.Flags().MarkDeprecated("filter", "use --container and --script")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print each match's verdict under the policy in force; send and delete nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "replay more than one job without asking (required off a terminal)")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "follow the new jobs and exit with the first non-zero exit code")
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "with --wait: how long to follow each job before giving up (exit 75)")
	cmd.Flags().DurationVar(&opts.AnswerWait, "answer-wait", client.DefaultAnswerWait, "how long to wait for the gatekeeper to accept or reject the replays")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json: one JSON object per dead letter (with --wait: per job event)")
	return cmd
}

func parseFilter(filter string, opts *ReplayOptions) error {
	if filter == "" {
		return nil
	}
	for _, kv := range strings.Split(filter, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return factory.Usage(fmt.Errorf("--filter: %q is not KEY=VALUE", kv))
		}
		switch k {
		case "container":
			opts.Container = v
		case "script":
			opts.Script = v
		default:
			return factory.Usage(fmt.Errorf("--filter: unknown key %q (container or script)", k))
		}
	}
	return nil
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, factory.Usage(fmt.Errorf("--since: %q is neither a duration (24h) nor an RFC 3339 time", s))
}

func runReplay(ctx context.Context, opts *ReplayOptions) error {
	f := opts.Factory
	c, err := f.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	// The policy in force, loaded as the server loads it: a broken
	// configuration fails before anything is judged.
	pol, err := f.Policy()
	if err != nil {
		return err
	}
	ro := client.ReplayOptions{Policy: pol, MaxWait: opts.MaxWait, AnswerWait: opts.AnswerWait, Now: opts.Now}
	filter := opts.Filter()

	dry := ro
	dry.DryRun = true
	plan, err := c.ReplayDeadLetters(ctx, filter, dry)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return printPlan(f, plan, opts.Output)
	}
	n := count(plan, client.VerdictWouldReplay)
	if n > 1 && !opts.Yes {
		if !f.IO.CanPrompt() {
			return factory.Usage(fmt.Errorf("%d jobs would be replayed: pass --yes to replay more than one job when not on a terminal (see --dry-run)", n))
		}
		if !confirm(f, plan, n) {
			_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: nothing replayed")
			return factory.Exit(1)
		}
	}
	if n > 0 {
		// Something must answer the replays.
		if err := jobview.EnsureServed(ctx, f, c, pol); err != nil {
			return err
		}
	}
	items, err := c.ReplayDeadLetters(ctx, filter, ro)
	if err != nil {
		return err
	}

	var jobs []client.Job
	var failed int
	enc := json.NewEncoder(f.IO.Out)
	for _, it := range items {
		if it.Verdict == client.VerdictReplayed || it.Verdict == client.VerdictAlready {
			jobs = append(jobs, client.Job{ID: it.ReplayID})
		} else {
			failed++
		}
		if opts.Output == "json" && !opts.Wait {
			if err := enc.Encode(it); err != nil {
				return err
			}
			continue
		}
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %s\n", describe(it, false))
	}
	if len(items) == 0 {
		_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: no dead letters to replay")
	}
	var first error
	if failed > 0 {
		first = factory.Exit(1)
	}
	if !opts.Wait {
		if opts.Output != "json" {
			for _, j := range jobs {
				_, _ = fmt.Fprintln(f.IO.Out, j.ID)
			}
		}
		return first
	}
	var waitErr error
	for _, j := range jobs {
		p := jobview.NewFor(f, opts.Output)
		p.Report = true
		err := jobview.Attach(ctx, f, c, pol, j, p, opts.MaxWait)
		p.Close()
		if err != nil && waitErr == nil {
			waitErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if waitErr != nil {
		return waitErr
	}
	return first
}

func count(items []client.ReplayItem, v client.Verdict) int {
	n := 0
	for _, it := range items {
		if it.Verdict == v {
			n++
		}
	}
	return n
}

// printPlan prints a dry run: a summary on stderr and one verdict per
// dead letter on stdout.
func printPlan(f *factory.Factory, plan []client.ReplayItem, output string) error {
	if output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		for _, it := range plan {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
	} else {
		for _, it := range plan {
			_, _ = fmt.Fprintln(f.IO.Out, describe(it, true))
		}
	}
	_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %s (dry run: nothing sent, nothing deleted)\n", summary(plan))
	return nil
}

// summary counts a plan's verdicts: "3 dead letters match: 2 would be
// replayed, 1 would be rejected".
func summary(plan []client.ReplayItem) string {
	var parts []string
	for _, v := range []struct {
		v    client.Verdict
		what string
	}{
		{client.VerdictWouldReplay, "would be replayed"},
		{client.VerdictRejected, "would be rejected"},
		{client.VerdictAlready, "replayed already"},
		{client.VerdictUnreplayable, "cannot be replayed"},
		{client.VerdictNotFound, "not found"},
		{client.VerdictPending, "awaiting the gatekeeper"},
	} {
		if n := count(plan, v.v); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v.what))
		}
	}
	s := fmt.Sprintf("%d dead letters match", len(plan))
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// describe says what happened, or would, to one dead letter.
func describe(it client.ReplayItem, dry bool) string {
	job := it.JobID
	if it.Container != "" {
		job += " (" + it.Container + " " + it.Script + ")"
	}
	switch it.Verdict {
	case client.VerdictWouldReplay:
		return fmt.Sprintf("job %s would replay as %s", job, it.ReplayID)
	case client.VerdictReplayed:
		return fmt.Sprintf("job %s replayed as %s (%s); its dead letter is deleted%s", job, it.ReplayID, it.State, note(it.Reason))
	case client.VerdictAlready:
		return fmt.Sprintf("job %s already replayed as %s (%s)%s", job, it.ReplayID, it.State, note(it.Reason))
	case client.VerdictRejected:
		if dry {
			return fmt.Sprintf("job %s would be rejected: %s: %s", job, it.ReasonCode, it.Reason)
		}
		return fmt.Sprintf("job %s rejected, its dead letter is kept: %s: %s", job, it.ReasonCode, it.Reason)
	case client.VerdictUnreplayable:
		return fmt.Sprintf("job %s cannot be replayed: %s", job, it.Reason)
	case client.VerdictNotFound:
		return it.Reason
	default:
		return fmt.Sprintf("job %s %s: %s", job, strings.ReplaceAll(string(it.Verdict), "_", " "), it.Reason)
	}
}

func note(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// confirm shows the plan and asks whether to replay n jobs.
func confirm(f *factory.Factory, plan []client.ReplayItem, n int) bool {
	for _, it := range plan {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "  %s\n", describe(it, true))
	}
	_, _ = fmt.Fprintf(f.IO.ErrOut, "%s.\nReplay %d jobs? [y/N] ", summary(plan), n)
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
