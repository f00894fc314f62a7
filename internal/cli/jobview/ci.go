package jobview

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// group is the group (GitHub, Buildkite) or section (GitLab) a printer
// has open around one attempt's output.
type group struct {
	open    bool
	job     string
	attempt int
	// token ends the stop-commands region inside a GitHub group.
	token string
	// name is a GitLab section's.
	name string
}

// openGroup opens the group of jobID's attempt for its output, closing
// the one open for another; p.mu is held.
//
// On GitHub the group holds a stop-commands region: "::stop-commands::T"
// turns the runner's workflow commands off until a line "::T::", where T
// is a token from crypto/rand, new for each region, which the task never
// sees. So nothing the task prints acts as a command, a line "::T::" from
// the task being out of its reach, and deployer's own commands are
// written outside the region. The markers go on stdout, the stream the
// output they wrap is on: the runner reads stdout and stderr apart, in
// no fixed order between them, so a marker on stderr could land anywhere
// in the output.
func (p *Printer) openGroup(jobID string, attempt int) {
	switch p.Dialect {
	case GitHub, GitLab, Buildkite:
	default:
		return
	}
	if p.group.open && p.group.job == jobID && p.group.attempt == attempt {
		return
	}
	p.closeGroup(false)
	title := p.groupTitle(jobID, attempt)
	g := group{open: true, job: jobID, attempt: attempt}
	switch p.Dialect {
	case GitHub:
		g.token = rand.Text()
		_, _ = fmt.Fprintf(p.out, "::group::%s\n::stop-commands::%s\n", githubData(noGitHubCommand(title)), g.token)
	case GitLab:
		g.name = sectionName(jobID, attempt)
		_, _ = fmt.Fprintf(p.out, "\x1b[0Ksection_start:%d:%s\r\x1b[0K%s\n", time.Now().Unix(), g.name, title)
	case Buildkite:
		_, _ = fmt.Fprintf(p.out, "--- %s\n", title)
	}
	p.group = g
}

// closeGroup closes the open group, if any; failed (the job ended and did
// not succeed) opens a Buildkite group up again ("^^^ +++"), as a failed
// step's output is what its reader looks for. p.mu is held.
func (p *Printer) closeGroup(failed bool) {
	if !p.group.open {
		return
	}
	switch p.Dialect {
	case GitHub:
		_, _ = fmt.Fprintf(p.out, "::%s::\n::endgroup::\n", p.group.token)
	case GitLab:
		_, _ = fmt.Fprintf(p.out, "\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", time.Now().Unix(), p.group.name)
	case Buildkite:
		if failed {
			_, _ = p.out.WriteString("^^^ +++\n")
		}
	}
	p.group = group{}
}

// maxTitle bounds the request shown in a group title.
const maxTitle = 300

// groupTitle names an attempt's group: the request (or Title) with the
// job id and attempt, all Printable.
func (p *Printer) groupTitle(jobID string, attempt int) string {
	what := p.Title
	if what == "" {
		what = p.requestText()
	}
	if what == "" {
		return Printable(fmt.Sprintf("job %s (attempt %d)", jobID, max(attempt, 1)))
	}
	return Printable(fmt.Sprintf("%s (job %s, attempt %d)", cut(what, maxTitle), jobID, max(attempt, 1)))
}

// requestText is the job's request as a shell user would type it
// (Command), or "" when the printer does not know it.
func (p *Printer) requestText() string {
	if p.req.script == "" {
		return ""
	}
	return Command(p.req.container, append([]string{p.req.script}, p.req.argv...))
}

// sectionName is a GitLab section name ([A-Za-z0-9_.-]) for an attempt.
func sectionName(jobID string, attempt int) string {
	var b strings.Builder
	b.WriteString("deployer_")
	for _, r := range jobID {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			b.WriteRune(r)
		}
	}
	b.WriteString("_")
	b.WriteString(strconv.Itoa(max(attempt, 1)))
	return b.String()
}

// cut returns s cut to at most n bytes at a rune boundary, with "…" when
// it was longer.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// githubData escapes the data of a workflow command as the runner
// unescapes it (%, CR, LF).
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a property value of a workflow command as the
// runner unescapes it (%, CR, LF, ':' and ',').
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// report writes how the job ended for the CI service (see
// Printer.Report); p.mu is held.
func (p *Printer) report(ev schemas.JobEvent) {
	if !p.Report || p.Dialect != GitHub {
		return
	}
	req := p.requestText()
	if ev.Outcome != schemas.OutcomeSucceeded {
		_, _ = p.out.WriteString(GitHubError(annotation(p.Name, ev, req)))
	}
	_ = p.out.Flush()
	row := SummaryRow{JobID: ev.JobID, Request: req, Duration: ev.Duration.D(), Outcome: ev.Outcome, ExitCode: ev.ExitCode}
	if err := AppendStepSummary(p.getenv, SummaryTable(p.Name, "", []SummaryRow{row})); err != nil {
		p.status("warning: "+err.Error(), "")
	}
}

// Unfinished reports, where Report would have said how the job ended,
// that the follower stopped before it did (gave up waiting, lost
// contact, was stopped): on GitHub Actions a row in the step summary
// saying it has not ended and how to re-attach.
func (p *Printer) Unfinished(jobID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Report || p.Dialect != GitHub {
		return
	}
	row := SummaryRow{JobID: jobID, Request: p.requestText()}
	if err := AppendStepSummary(p.getenv, SummaryTable(p.Name, "", []SummaryRow{row})); err != nil {
		p.status("warning: "+err.Error(), "")
	}
}

// annotation is the title and message of the error annotation of a job
// that did not succeed: the job, what it ran, how it ended, where its
// output is.
func annotation(name string, ev schemas.JobEvent, req string) (title, msg string) {
	what := "job " + ev.JobID
	if req != "" {
		what = cut(req, maxTitle)
		if f := strings.Fields(req); len(f) >= 2 {
			title = fmt.Sprintf("%s: %s %s %s", name, f[0], f[1], outcomeWord(ev))
		}
	}
	if title == "" {
		title = fmt.Sprintf("%s: job %s %s", name, ev.JobID, outcomeWord(ev))
	}
	msg = fmt.Sprintf("job %s: %s: %s. Output: %s logs %s", ev.JobID, what, Describe(ev), name, ev.JobID)
	return title, msg
}

// outcomeWord says how a job ended in a word or two.
func outcomeWord(ev schemas.JobEvent) string {
	if ev.Outcome == "" {
		return string(ev.Type)
	}
	return strings.ReplaceAll(string(ev.Outcome), "_", " ")
}

// SummaryRow is one job in a step summary table.
type SummaryRow struct {
	// Label, when set on any row, fills a first column "#" (a batch
	// job's position and key).
	Label    string
	JobID    string
	Request  string
	Duration time.Duration
	Outcome  schemas.Outcome
	ExitCode *int
}

// Step summary bounds: GitHub refuses a step's summary over 1 MiB, and
// deployer's part stays well below.
const (
	stepSummaryLimit = 1 << 20
	maxSummary       = 64 << 10
	maxSummaryCell   = 1000
)

// SummaryTable is a Markdown table of jobs for a GitHub step summary: job
// id, request, duration, outcome, exit code and how to re-attach
// ("deployer wait ID", name being the program). Every text of a request,
// label or outcome is Printable and Markdown-escaped, so it renders as
// the text it is; past 64 KiB the rows left out are counted. footer, if
// any, is a line of Markdown after the table.
func SummaryTable(name, footer string, rows []SummaryRow) string {
	labels := false
	for _, r := range rows {
		labels = labels || r.Label != ""
	}
	var b strings.Builder
	b.WriteString("\n")
	if labels {
		b.WriteString("| # ")
	}
	b.WriteString("| Job | Request | Duration | Outcome | Exit code | Re-attach |\n")
	if labels {
		b.WriteString("|---")
	}
	b.WriteString("|---|---|---|---|---|---|\n")
	for i, r := range rows {
		var row strings.Builder
		if labels {
			fmt.Fprintf(&row, "| %s ", markdownCell(r.Label))
		}
		dur, code, request := "-", "-", "-"
		if r.Duration > 0 {
			dur = round(r.Duration).String()
		}
		if r.ExitCode != nil {
			code = strconv.Itoa(*r.ExitCode)
		}
		if r.Request != "" {
			request = markdownCell(r.Request)
		}
		job, reattach := "-", "-"
		if schemas.ValidJobID(r.JobID) {
			job = "`" + r.JobID + "`"
			reattach = "`" + markdownCode(name) + " wait " + r.JobID + "`"
		}
		fmt.Fprintf(&row, "| %s | %s | %s | %s | %s | %s |\n", job, request, dur, outcomeCell(r.Outcome), code, reattach)
		if b.Len()+row.Len() > maxSummary {
			fmt.Fprintf(&b, "\n…and %d more jobs.\n", len(rows)-i)
			break
		}
		b.WriteString(row.String())
	}
	if footer != "" {
		b.WriteString("\n" + footer + "\n")
	}
	return b.String()
}

// outcomeCell renders an outcome for a summary table.
func outcomeCell(o schemas.Outcome) string {
	switch o {
	case schemas.OutcomeSucceeded:
		return "✅ succeeded"
	case "":
		return "⏳ not ended"
	}
	return "❌ " + markdownCell(strings.ReplaceAll(string(o), "_", " "))
}

// markdownCell renders text as the text it is in a Markdown table cell:
// Printable, cut to 1000 bytes, every ASCII punctuation character
// backslash-escaped (CommonMark lets each be), so no link, image, HTML,
// emphasis or cell break comes out of it.
func markdownCell(s string) string {
	s = cut(Printable(s), maxSummaryCell)
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// markdownCode keeps a program name fit for a code span in a table.
func markdownCode(s string) string {
	return strings.NewReplacer("`", "'", "|", "/").Replace(Printable(s))
}

// AppendStepSummary appends text to the GitHub step summary, the file
// $GITHUB_STEP_SUMMARY names. It writes nothing, and says why, when the
// variable is not set, the file cannot be written, or the text would take
// it past GitHub's 1 MiB limit. Callers warn; a summary never fails a job.
func AppendStepSummary(getenv func(string) string, text string) error {
	path := ""
	if getenv != nil {
		path = getenv("GITHUB_STEP_SUMMARY")
	}
	if path == "" {
		return errors.New("$GITHUB_STEP_SUMMARY is not set, so no step summary was written (GitHub Actions sets it in a job's steps)")
	}
	// The runner made the file and named it for this step.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644) //nolint:gosec // the path is the runner's
	if err != nil {
		return fmt.Errorf("no step summary written: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size()+int64(len(text)) > stepSummaryLimit {
		err = fmt.Errorf("no step summary written: %s holds %d bytes, and %d more would pass GitHub's limit of 1 MiB", path, st.Size(), len(text))
	}
	if err == nil {
		_, err = f.WriteString(text)
		if err != nil {
			err = fmt.Errorf("writing the step summary %s: %w", path, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the step summary %s: %w", path, cerr)
	}
	return err
}

// outcomeColor is the colour of an event's status line: green for a job
// that succeeded, yellow for one cancelled, red for one that failed or
// was rejected or dead-lettered, none for the others.
func outcomeColor(ev schemas.JobEvent) string {
	switch {
	case ev.Type == schemas.EventFinished && ev.Outcome == schemas.OutcomeSucceeded:
		return sgrGreen
	case ev.Type == schemas.EventCancelled:
		return sgrYellow
	case ev.Type.Terminal(), ev.Type == schemas.EventDeadLettered:
		return sgrRed
	}
	return ""
}
