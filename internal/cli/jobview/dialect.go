package jobview

import (
	"fmt"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

// Dialect is how a Printer writes: for a CI service's log, for a person
// at a terminal, for a file, or for programs. docs/ci.md shows each.
type Dialect string

// Dialects. The --output values are the same names, plus "text", which
// detects one of GitHub, GitLab, Buildkite, Terminal and Plain (Detect).
const (
	// Plain writes the task's lines on stdout and deployer's status
	// lines on stderr, with no escape sequence and no CI marker: for
	// files, pipes and CI services deployer has no dialect for.
	Plain Dialect = "plain"
	// Terminal is Plain plus a live status line on stderr, redrawn in
	// place, and colours.
	Terminal Dialect = "terminal"
	// JSON writes one job event per line on stdout, the task's text
	// as it wrote it.
	JSON Dialect = "json"
	// GitHub writes for GitHub Actions: each attempt's output in a
	// group, with workflow commands off inside it (stop-commands), an
	// error annotation on failure and a row in the step summary.
	GitHub Dialect = "github"
	// GitLab writes each attempt's output in a collapsible section.
	GitLab Dialect = "gitlab"
	// Buildkite writes each attempt's output in a group.
	Buildkite Dialect = "buildkite"
)

// Harmless returns a line of deployer's own that quotes others' text
// (keys, reasons, arguments) fit to print in the dialect: Printable, and
// for GitHub with no workflow command in it (see Sanitize for the task's
// lines).
func (d Dialect) Harmless(s string) string {
	s = Printable(s)
	if d == GitHub {
		s = noGitHubCommand(s)
	}
	return s
}

// GitHubError is a workflow command line (with its newline) that makes an
// error annotation: title and message Printable, escaped as the runner
// unescapes them, with no other command in them.
func GitHubError(title, message string) string {
	return fmt.Sprintf("::error title=%s::%s\n", githubProperty(GitHub.Harmless(title)), githubData(GitHub.Harmless(message)))
}

// GitHubSafeJSON returns a JSON line with every "##[" in its strings
// written "##\u005b": the same value, which GitHub Actions, reading the
// line for workflow commands, cannot take for one.
func GitHubSafeJSON(b []byte) []byte { return noGitHubCommandJSON(b) }

// Detect returns the dialect an --output value asks for (see
// factory.JobOutputs). "text" detects it, once, for every command: a CI
// service by its variable (GITHUB_ACTIONS, GITLAB_CI, BUILDKITE set to
// "true", in that order), else Terminal when stderr is a terminal that
// may take escape sequences (see factory.Factory.Color: NO_COLOR and
// --no-color make it Plain), else Plain.
func Detect(f *factory.Factory, output string) Dialect {
	switch output {
	case "json":
		return JSON
	case "plain":
		return Plain
	case "github":
		return GitHub
	case "gitlab":
		return GitLab
	case "buildkite":
		return Buildkite
	}
	switch {
	case f.Getenv("GITHUB_ACTIONS") == "true":
		return GitHub
	case f.Getenv("GITLAB_CI") == "true":
		return GitLab
	case f.Getenv("BUILDKITE") == "true":
		return Buildkite
	case factory.IsTerminal(f.IO.ErrOut) && f.Color():
		return Terminal
	}
	return Plain
}

// NewFor returns the Printer of a command with an --output flag (or "text"
// for one without), writing to the factory's streams in the dialect
// Detect finds. On a terminal, Attach keeps a live status line while it
// follows the job. Call Close when done.
func NewFor(f *factory.Factory, output string) *Printer {
	d := Detect(f, output)
	p := New(f.IO.Out, f.IO.ErrOut)
	p.Name = f.ProgramName()
	p.Dialect = d
	p.getenv = f.Getenv
	// GitHub Actions reads workflow commands from stdout whatever the
	// dialect; JSON keeps its values and loses the "##[" form.
	p.jsonGuard = f.Getenv("GITHUB_ACTIONS") == "true"
	if d == Terminal {
		p.colorOut = factory.IsTerminal(f.IO.Out) && f.Color()
		p.colorErr = true
		errOut := f.IO.ErrOut
		p.width = func() int { return factory.TerminalWidth(errOut) }
	}
	return p
}
