// Package jobview renders a followed job for people, for CI services and
// for machines, in one of the dialects of Dialect: the task's lines on
// stdout and deployer's own status lines on stderr (with a live status
// line on a terminal, and the groups, sections, annotations and summaries
// of GitHub Actions, GitLab CI and Buildkite), or one JSON job event per
// line.
//
// The task's output is not trusted. In every dialect but JSON each line
// is made harmless before it is shown (Sanitize): nothing it holds can
// move the cursor, retitle a terminal, end a CI group or section, or be
// read by GitHub Actions as a workflow command; and every line is shown,
// in order, one output line for one line of the task.
package jobview

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Printer writes a job's lines and events in its Dialect. Its methods may
// be called from several goroutines.
type Printer struct {
	// Dialect is how the printer writes; set it before the first line
	// (NewFor detects it; New makes a Plain printer).
	Dialect Dialect
	// Timestamps prefixes each line with the time the task wrote it.
	Timestamps bool
	// Quiet leaves out status lines. On a terminal the live status line
	// still shows while the job runs, and is gone when it ends.
	Quiet bool
	// NoLines leaves out the task's lines, but in JSON: status only
	// (cancel --wait).
	NoLines bool
	// Report writes how the job ended where the CI service keeps it: on
	// GitHub Actions, an error annotation when it did not succeed and a
	// row in the step summary. Set by the commands whose outcome is the
	// job's (run, wait, dlq replay --wait).
	Report bool
	// Name is the program that speaks in status lines ("deployer:").
	Name string
	// Title names the job in group titles instead of its request (batch
	// logs).
	Title string

	mu     sync.Mutex
	out    *bufio.Writer
	errOut io.Writer
	// colorOut lets the task's colours through to out; colorErr colours
	// deployer's own status.
	colorOut, colorErr bool
	// jsonGuard keeps "##[" out of JSON lines (GitHub Actions reads
	// them).
	jsonGuard bool
	getenv    func(string) string
	// width is the terminal's, for the live line of the Terminal
	// dialect.
	width func() int
	live  *liveLine
	group group
	req   request
	// reached is the stage (producer.Stage) each attempt of each job
	// has shown.
	reached   map[attemptKey]int
	closeOnce sync.Once
	closed    bool
}

// attemptKey names one attempt of one job.
type attemptKey struct {
	job     string
	attempt int
}

// request is what the followed job runs, as far as the printer knows.
type request struct {
	container, script string
	argv              []string
}

// New returns a Plain Printer writing lines to out and status to errOut.
func New(out, errOut io.Writer) *Printer {
	return &Printer{out: bufio.NewWriterSize(out, 64*1024), errOut: errOut, Name: "deployer", Dialect: Plain}
}

// JSON reports whether the printer writes JSON job events.
func (p *Printer) JSON() bool { return p.Dialect == JSON }

// Live reports whether the printer keeps a live status line.
func (p *Printer) Live() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live != nil
}

// SetRequest says what the job runs, for group titles, annotations and
// summaries before (or without) the job's accepted event, which says it
// again.
func (p *Printer) SetRequest(container, script string, argv []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.req = request{container: container, script: script, argv: argv}
}

// Line prints one line of task output.
func (p *Printer) Line(jobID string, attempt int, l schemas.LogLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Dialect == JSON {
		p.json(schemas.JobEvent{
			Schema: schemas.JobEventV1, JobID: jobID, ID: fmt.Sprintf("line:%d:%d", attempt, l.Seq),
			Time: l.Time, Type: schemas.EventLog, Attempt: attempt, Lines: []schemas.LogLine{l},
		})
		return
	}
	if p.NoLines {
		return
	}
	p.clearLive()
	p.openGroup(jobID, attempt)
	if p.Timestamps {
		_, _ = p.out.WriteString(l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		_ = p.out.WriteByte(' ')
	}
	_, _ = p.out.WriteString(p.taskText(l.Text))
	_ = p.out.WriteByte('\n')
}

// taskText is a line of the task's made harmless for the dialect.
func (p *Printer) taskText(s string) string {
	s = Sanitize(s, p.colorOut)
	switch p.Dialect {
	case GitHub:
		// Inside stop-commands already; the log viewer still draws
		// ##[group] and the like.
		return noGitHubCommand(s)
	case Buildkite:
		return noBuildkiteHeader(s)
	}
	return s
}

// Heading starts the part of the output about one job of several (batch
// logs): a line "==> s <==" on stdout, but in JSON; s also names the
// group the job's lines then open in a CI dialect.
func (p *Printer) Heading(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Title = s
	if p.Dialect == JSON {
		return
	}
	p.closeGroup(false)
	p.clearLive()
	_, _ = fmt.Fprintf(p.out, "==> %s <==\n", p.Dialect.Harmless(s))
}

// Event prints a status event.
func (p *Printer) Event(ev schemas.JobEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Dialect == JSON {
		p.json(ev)
		return
	}
	if ev.Type == schemas.EventAccepted && ev.Container != "" {
		p.req = request{container: ev.Container, script: ev.Script, argv: ev.Argv}
	}
	if p.stale(ev) {
		return
	}
	terminal := ev.Type.Terminal()
	switch {
	case terminal:
		p.closeGroup(ev.Outcome != schemas.OutcomeSucceeded)
	case ev.Type == schemas.EventStarting || ev.Type == schemas.EventStarted:
		if p.group.open && (p.group.attempt != ev.Attempt || p.group.job != ev.JobID) {
			p.closeGroup(false)
		}
	}
	if p.live != nil && p.live.event(ev, time.Now()) {
		return // the live line shows it
	}
	if terminal && p.live != nil {
		p.clearLive()
		p.live.done = true
	}
	if s := Describe(ev); s != "" && !p.Quiet {
		p.status(s, outcomeColor(ev))
	}
	if terminal {
		p.report(ev)
	}
}

// stale reports whether ev places its attempt at an earlier stage than
// one already shown: the gatekeeper publishes "queued" once the run order
// is on its way, and a quick worker's "started" may come first. Printed,
// it would say the job went back to waiting. (JSON keeps every event.)
func (p *Printer) stale(ev schemas.JobEvent) bool {
	st := producer.Stage(ev.Type)
	if st == 0 {
		return false
	}
	k := attemptKey{ev.JobID, max(ev.Attempt, 1)}
	if st < p.reached[k] {
		return true
	}
	if p.reached == nil {
		p.reached = map[attemptKey]int{}
	}
	p.reached[k] = st
	return false
}

// Status prints a status line of deployer's own on stderr, after flushing
// the task's output so the two stay in order on a terminal. The line is
// made Printable: what it quotes (arguments, reasons) is other people's
// text, and must not move the cursor or break the line.
func (p *Printer) Status(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status(fmt.Sprintf(format, args...), "")
}

// status is Status with p.mu held, in color (an SGR sequence) when
// deployer's status may be coloured.
func (p *Printer) status(msg, color string) {
	_ = p.out.Flush()
	if p.Dialect == JSON {
		return
	}
	p.clearLive()
	msg = Printable(msg)
	if p.Dialect == GitHub {
		// stderr reaches the runner's command parser too, in no fixed
		// order with stdout's stop-commands regions.
		msg = noGitHubCommand(msg)
	}
	if color != "" && p.colorErr {
		// The verb ("failed", "finished") before the first colon.
		verb, rest, found := strings.Cut(msg, ":")
		msg = color + verb + sgrReset
		if found {
			msg += ":" + rest
		}
	}
	_, _ = fmt.Fprintf(p.errOut, "%s: %s\n", p.Name, msg)
}

// Flush writes buffered output.
func (p *Printer) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.out.Flush()
}

// Close ends what the printer has open: a group or section (with its
// stop-commands region), and on a terminal the live status line, which
// it erases, leaving the cursor at the start of a clean line. Call it
// once the job is followed, whatever the outcome; it may be called more
// than once.
func (p *Printer) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.closeGroup(false)
		if p.live != nil {
			p.clearLive()
			p.live.done = true
		}
		_ = p.out.Flush()
		l := p.live
		p.mu.Unlock()
		if l != nil {
			l.stopTicker()
		}
	})
}

func (p *Printer) json(ev schemas.JobEvent) {
	ev.Schema = schemas.JobEventV1
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if p.jsonGuard {
		b = noGitHubCommandJSON(b)
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

// maxShownArg bounds how much of one argument a status line shows: the
// request may yet be rejected, and a 100 KB argument belongs in no
// terminal. The whole argument is in the job's events (--output json).
const maxShownArg = 200

// Command renders a script and its argv the way a shell user would type
// it, each part Printable and cut to maxShownArg bytes ("…[N bytes]"
// says how long it was).
func Command(script string, argv []string) string {
	parts := []string{shownArg(script)}
	for _, a := range argv {
		parts = append(parts, shownArg(a))
	}
	return strings.Join(parts, " ")
}

func shownArg(s string) string {
	if len(s) <= maxShownArg {
		return quote(Printable(s))
	}
	cut := maxShownArg
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return quote(Printable(s[:cut])) + fmt.Sprintf("…[%d bytes]", len(s))
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
