// Package jobview renders a followed job for people and for machines: the
// task's lines on stdout exactly as the task wrote them, deployer's own
// status lines on stderr, or one JSON job event per line.
package jobview

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// Printer writes a job's lines and events.
type Printer struct {
	out    *bufio.Writer
	errOut io.Writer
	// JSON prints one job event per line on stdout instead of text.
	JSON bool
	// Timestamps prefixes each line with the time the task wrote it.
	Timestamps bool
	// Quiet leaves out status lines.
	Quiet bool
	// Name is the program that speaks in status lines ("deployer:").
	Name string
}

// New returns a Printer writing lines to out and status to errOut.
func New(out, errOut io.Writer) *Printer {
	return &Printer{out: bufio.NewWriterSize(out, 64*1024), errOut: errOut, Name: "deployer"}
}

// Line prints one line of task output.
func (p *Printer) Line(jobID string, attempt int, l schemas.LogLine) {
	if p.JSON {
		p.json(schemas.JobEvent{
			Schema: schemas.JobEventV1, JobID: jobID, ID: fmt.Sprintf("line:%d:%d", attempt, l.Seq),
			Time: l.Time, Type: schemas.EventLog, Attempt: attempt, Lines: []schemas.LogLine{l},
		})
		return
	}
	if p.Timestamps {
		_, _ = p.out.WriteString(l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		_ = p.out.WriteByte(' ')
	}
	_, _ = p.out.WriteString(l.Text)
	_ = p.out.WriteByte('\n')
}

// Event prints a status event.
func (p *Printer) Event(ev schemas.JobEvent) {
	if p.JSON {
		p.json(ev)
		return
	}
	if p.Quiet {
		return
	}
	if s := Describe(ev); s != "" {
		p.Status("%s", s)
	}
}

// Status prints a status line of deployer's own on stderr, after flushing
// the task's output so the two stay in order on a terminal.
func (p *Printer) Status(format string, args ...any) {
	p.Flush()
	if p.JSON {
		return
	}
	_, _ = fmt.Fprintf(p.errOut, p.Name+": "+format+"\n", args...)
}

// Flush writes buffered output.
func (p *Printer) Flush() { _ = p.out.Flush() }

func (p *Printer) json(ev schemas.JobEvent) {
	ev.Schema = schemas.JobEventV1
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_, _ = p.out.Write(b)
	_ = p.out.WriteByte('\n')
}

// Describe renders a status event as one line, or "" for events not worth
// a line.
func Describe(ev schemas.JobEvent) string {
	switch ev.Type {
	case schemas.EventAccepted:
		if ev.Canary {
			return fmt.Sprintf("accepted: %s %s", ev.Container, CanaryCommand)
		}
		return fmt.Sprintf("accepted: %s %s", ev.Container, Command(ev.Script, ev.Argv))
	case schemas.EventQueued:
		return "queued: " + ev.Reason
	case schemas.EventStarted:
		return fmt.Sprintf("started task %s (attempt %d)", ev.TaskID, max(ev.Attempt, 1))
	case schemas.EventRejected:
		return fmt.Sprintf("rejected [%s]: %s", ev.ReasonCode, ev.Reason)
	case schemas.EventDeadLettered:
		return fmt.Sprintf("moved to the dead-letter queue: %s (inspect with: deployer dlq show %s)", ev.Reason, ev.JobID)
	case schemas.EventFinished:
		code := -1
		if ev.ExitCode != nil {
			code = *ev.ExitCode
		}
		verb := "finished"
		if ev.Outcome != schemas.OutcomeSucceeded {
			verb = "failed"
		}
		return fmt.Sprintf("%s: exit code %d after %s", verb, code, round(ev.Duration.D()))
	case schemas.EventFailed:
		return fmt.Sprintf("failed [%s]: %s", ev.Outcome, ev.Reason)
	case schemas.EventCancelled:
		return "cancelled: " + ev.Reason
	}
	return ""
}

// CanaryCommand is how a canary's command is shown where a script's
// would be (jobs, status, the accepted line).
const CanaryCommand = "canary (" + schemas.CanaryCommand + ")"

// Command renders a script and its argv the way a shell user would type it.
func Command(script string, argv []string) string {
	parts := []string{quote(script)}
	for _, a := range argv {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`;&|<>(){}*?[]#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Printable returns s with what a terminal would act on (control and
// format characters: escapes, carriage returns, tabs, bidirectional
// overrides) and invalid UTF-8 written as Go escapes, so that text from
// a job's events (its arguments are the caller's) prints as one
// harmless line.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}
