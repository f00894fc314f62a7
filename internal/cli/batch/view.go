package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// view prints a followed batch: on a terminal a live table redrawn in
// place; otherwise one line per change of a job's state; with JSON, each
// event of the batch's journal as a JSON line and a summary object.
type view struct {
	out, errOut io.Writer
	json        bool
	live        bool
	// seen holds the events printed (JSON); last each job's state line
	// printed (text).
	seen map[string]bool
	last map[int]string
	// drawn is how many lines the live table took when last drawn.
	drawn int
	now   func() time.Time
}

func newView(f *factory.Factory, asJSON bool) *view {
	return &view{
		out: f.IO.Out, errOut: f.IO.ErrOut, json: asJSON,
		live: !asJSON && isTerminal(f.IO.Out) && f.Getenv("TERM") != "dumb",
		seen: map[string]bool{}, last: map[int]string{}, now: time.Now,
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}

// status prints a status line on stderr (nothing with JSON, whose stdout
// is for programs and whose stderr stays quiet as "deployer run"'s does).
func (v *view) status(format string, args ...any) {
	_, _ = fmt.Fprintf(v.errOut, "deployer: "+format+"\n", args...)
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
			_, _ = fmt.Fprintln(v.out, line)
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
			_, _ = fmt.Fprintf(v.out, "%s\n", data)
		}
		return
	}
	_, _ = fmt.Fprintf(v.errOut, "deployer: batch %s (%s): %s in %s\n", jobview.Printable(b.Name), b.ID, countLine(b), roundDur(v.now().Sub(b.Since)))
	if j, ok := b.FirstFailed(); ok {
		_, _ = fmt.Fprintf(v.errOut, "deployer: first failure: %s; its output: deployer logs %s\n", stateLine(b, j), j.JobID)
	}
	if code != 0 {
		_, _ = fmt.Fprintf(v.errOut, "deployer: exit code %d\n", code)
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
