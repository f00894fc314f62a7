package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// view prints a followed batch: on a terminal a live table redrawn in
// place; otherwise one line per change of a job's state; with JSON, each
// event of the batch's journal as a JSON line and a summary object. On
// GitHub Actions (the github dialect) its lines hold no workflow command,
// and its end adds an error annotation when the batch failed and a table
// of its jobs to the step summary.
type view struct {
	out, errOut io.Writer
	json        bool
	live        bool
	dialect     jobview.Dialect
	name        string
	getenv      func(string) string
	// jsonGuard keeps "##[" out of JSON lines (GitHub Actions reads
	// them).
	jsonGuard bool
	// seen holds the events printed (JSON); last each job's state line
	// printed (text).
	seen map[string]bool
	last map[int]string
	// drawn is how many lines the live table took when last drawn.
	drawn int
	now   func() time.Time
}

// newView returns the view for an --output value (see jobview.Detect).
// The live table needs a terminal on stdout that may take escape
// sequences (not with NO_COLOR, --no-color or TERM=dumb), and no CI
// dialect.
func newView(f *factory.Factory, output string) *view {
	d := jobview.Detect(f, output)
	return &view{
		out: f.IO.Out, errOut: f.IO.ErrOut, json: d == jobview.JSON, dialect: d,
		live: (d == jobview.Terminal || d == jobview.Plain && output != "plain") && factory.IsTerminal(f.IO.Out) && f.Color(),
		name: f.ProgramName(), getenv: f.Getenv, jsonGuard: f.Getenv("GITHUB_ACTIONS") == "true",
		seen: map[string]bool{}, last: map[int]string{}, now: time.Now,
	}
}

// status prints a status line on stderr, made harmless for the dialect
// (see jobview.Dialect.Harmless).
func (v *view) status(format string, args ...any) {
	_, _ = fmt.Fprintf(v.errOut, "deployer: %s\n", v.dialect.Harmless(fmt.Sprintf(format, args...)))
}

// update prints what changed in the batch since the last update.
func (v *view) update(b producer.Batch, evs []schemas.JobEvent, now time.Time) {
	switch {
	case v.json:
		for _, ev := range evs {
			if v.seen[ev.ID] {
				continue
			}
			v.seen[ev.ID] = true
			if data, err := ev.Encode(); err == nil {
				if v.jsonGuard {
					data = jobview.GitHubSafeJSON(data)
				}
				_, _ = fmt.Fprintf(v.out, "%s\n", data)
			}
		}
	case v.live:
		v.redraw(b, now)
	default:
		for _, j := range b.Jobs {
			line := stateLine(b, j)
			if v.last[j.Index] == line || j.State == producer.StateUnknown {
				continue
			}
			v.last[j.Index] = line
			_, _ = fmt.Fprintln(v.out, v.dialect.Harmless(line))
		}
	}
}

// stateLine is one job's state as one line: position, state, key, job id
// and, for a queued or ended job, why.
func stateLine(b producer.Batch, j producer.BatchJob) string {
	var s strings.Builder
	fmt.Fprintf(&s, "[%*d/%d] %-15s %s", len(strconv.Itoa(len(b.Jobs))), j.Index, len(b.Jobs), j.State, label(j))
	if j.JobID != "" {
		fmt.Fprintf(&s, "  job %s", j.JobID)
	}
	if t := j.Terminal; t != nil {
		if t.ExitCode != nil {
			fmt.Fprintf(&s, "  exit %d", *t.ExitCode)
		}
		if !j.Started.IsZero() {
			fmt.Fprintf(&s, " after %s", roundDur(j.Ended.Sub(j.Started)))
		}
	}
	if j.Reason != "" && j.State != producer.JobState(schemas.OutcomeSucceeded) {
		fmt.Fprintf(&s, ": %s", jobview.Printable(j.Reason))
	}
	return s.String()
}

// label names a job for people: its key, else its command.
func label(j producer.BatchJob) string {
	if j.Key != "" {
		return jobview.Printable(j.Key)
	}
	if j.Container != "" {
		return jobview.Printable(j.Container + " " + j.Script)
	}
	return "-"
}

// redraw draws the live table over the last one.
func (v *view) redraw(b producer.Batch, now time.Time) {
	var buf bytes.Buffer
	if v.drawn > 0 {
		fmt.Fprintf(&buf, "\x1b[%dF\x1b[J", v.drawn)
	}
	table := renderTable(b, now)
	buf.WriteString(table)
	v.drawn = strings.Count(table, "\n")
	_, _ = v.out.Write(buf.Bytes())
}

// renderTable is the batch as a table: job, args, state, queue position,
// elapsed time and exit code.
func renderTable(b producer.Batch, now time.Time) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "#\tJOB\tARGS\tSTATE\tQUEUE\tELAPSED\tEXIT")
	position := 0
	for _, j := range b.Jobs {
		queue, elapsed, exit := "", "", ""
		switch {
		case j.State == producer.StateQueued:
			position++
			queue = producer.Ordinal(position)
		case !j.Started.IsZero() && j.Terminal == nil:
			elapsed = roundDur(now.Sub(j.Started)).String()
		case !j.Started.IsZero():
			elapsed = roundDur(j.Ended.Sub(j.Started)).String()
		}
		if t := j.Terminal; t != nil && t.ExitCode != nil {
			exit = strconv.Itoa(*t.ExitCode)
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Index, label(j), clip(jobview.Printable(strings.Join(j.Argv, " ")), 40),
			j.State, queue, elapsed, exit)
	}
	_ = tw.Flush()
	return buf.String()
}

// summary prints the batch's end: how many jobs ended how, the first
// failure, and the exit code.
func (v *view) summary(b producer.Batch) {
	code := b.ExitCode()
	if v.json {
		out := map[string]any{
			"type": "batch_summary", "batch_id": b.ID, "name": b.Name, "jobs": len(b.Jobs),
			"counts": b.Count(), "exit_code": code,
		}
		if j, ok := b.FirstFailed(); ok {
			out["first_failed"] = j.JobID
		}
		if data, err := json.Marshal(out); err == nil {
			if v.jsonGuard {
				data = jobview.GitHubSafeJSON(data)
			}
			_, _ = fmt.Fprintf(v.out, "%s\n", data)
		}
		return
	}
	if v.dialect == jobview.GitHub {
		v.github(b)
	}
	v.status("batch %s (%s): %s in %s", b.Name, b.ID, countLine(b), roundDur(v.now().Sub(b.Since)))
	if j, ok := b.FirstFailed(); ok {
		v.status("first failure: %s; its output: deployer logs %s", stateLine(b, j), j.JobID)
	}
	if code != 0 {
		v.status("exit code %d", code)
	}
}

// countLine says how many jobs are in each state, in a fixed order.
func countLine(b producer.Batch) string {
	n := b.Count()
	var parts []string
	for _, s := range []producer.JobState{
		producer.JobState(schemas.OutcomeSucceeded), producer.JobState(schemas.OutcomeFailed),
		producer.JobState(schemas.OutcomeRejected), producer.JobState(schemas.OutcomeTimedOut),
		producer.JobState(schemas.OutcomeCouldNotStart), producer.JobState(schemas.OutcomeLost),
		producer.JobState(schemas.OutcomeCancelled), producer.StateRunning, producer.StateQueued, producer.StateUnknown,
	} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return fmt.Sprintf("%d jobs: %s", len(b.Jobs), strings.Join(parts, ", "))
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// github ends a batch on GitHub Actions: an error annotation when it
// failed (its counts and first failure) and its jobs in the step summary
// (a warning when that cannot be written).
func (v *view) github(b producer.Batch) {
	if code := b.ExitCode(); code != 0 {
		msg := fmt.Sprintf("batch %s (%s): %s; exit code %d", b.Name, b.ID, countLine(b), code)
		if j, ok := b.FirstFailed(); ok {
			msg += fmt.Sprintf(". First failure: %s; its output: %s logs %s", stateLine(b, j), v.name, j.JobID)
		}
		_, _ = io.WriteString(v.out, jobview.GitHubError(fmt.Sprintf("%s: batch %s failed", v.name, b.Name), msg))
	}
	rows := make([]jobview.SummaryRow, 0, len(b.Jobs))
	for _, j := range b.Jobs {
		r := jobview.SummaryRow{Label: strconv.Itoa(j.Index), JobID: j.JobID}
		if j.Key != "" {
			r.Label += " " + j.Key
		}
		if j.Container != "" {
			r.Request = j.Container + " " + jobview.Command(j.Script, j.Argv)
		}
		if !j.Started.IsZero() && !j.Ended.IsZero() {
			r.Duration = j.Ended.Sub(j.Started)
		}
		if t := j.Terminal; t != nil {
			r.Outcome, r.ExitCode = t.Outcome, t.ExitCode
		}
		rows = append(rows, r)
	}
	footer := fmt.Sprintf("Batch `%s`: re-attach with `%s batch wait %s`.", b.ID, v.name, b.ID)
	if err := jobview.AppendStepSummary(v.getenv, jobview.SummaryTable(v.name, footer, rows)); err != nil {
		v.status("warning: %v", err)
	}
}
