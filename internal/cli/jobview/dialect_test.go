package jobview

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/ghrunner"
)

const testJob = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"

// hostileArgv are arguments a summary and a title must show as text.
var hostileArgv = []string{"--ref", "x|<b>`y`</b> [l](http://e) ##[add-mask]z"}

// shownArgv is hostileArgv as Command shows it.
const shownArgv = "--ref 'x|<b>`y`</b> [l](http://e) ##[add-mask]z'"

func ev(t schemas.EventType, attempt int) schemas.JobEvent {
	return schemas.JobEvent{Schema: schemas.JobEventV1, JobID: testJob, ID: string(t), Time: time.Now(), Type: t, Attempt: attempt}
}

// followHostile feeds p a job that prints every hostile line and ends
// with end (exit code code, unless nil).
func followHostile(p *Printer, outcome schemas.Outcome, code *int) {
	acc := ev(schemas.EventAccepted, 1)
	acc.Container, acc.Script, acc.Argv = "ops", "hostile", hostileArgv
	p.Event(acc)
	q := ev(schemas.EventQueued, 1)
	q.Reason = "waiting for a worker"
	p.Event(q)
	p.Event(ev(schemas.EventStarting, 1))
	st := ev(schemas.EventStarted, 1)
	st.TaskID = "t-1"
	p.Event(st)
	for i, l := range hostileLines {
		p.Line(testJob, 1, schemas.LogLine{Seq: int64(i + 1), Time: time.Now(), Text: l.in})
	}
	p.Flush()
	end := ev(schemas.EventFinished, 1)
	end.Outcome, end.ExitCode, end.Duration = outcome, code, schemas.Duration(2*time.Second)
	p.Event(end)
	p.Close()
}

// taskLines is how a dialect shows the hostile lines.
func taskLines(d Dialect) string {
	var b strings.Builder
	for _, l := range hostileLines {
		s := l.plain
		switch {
		case d == GitHub && l.github != "":
			s = l.github
		case d == Buildkite && l.buildkite != "":
			s = l.buildkite
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}

var (
	stopRegion  = regexp.MustCompile(`(?m)^::stop-commands::([A-Z2-7]{26})$`)
	gitlabStamp = regexp.MustCompile("\x1b\\[0Ksection_(start|end):\\d+:")
)

func three() *int { c := 3; return &c }

func TestDialectsShowEveryHostileLineAndOnlyTheirOwnMarkers(t *testing.T) {
	title := "ops hostile " + shownArgv + " (job " + testJob + ", attempt 1)"
	stderr := "deployer: accepted: ops hostile " + shownArgv + "\n" +
		"deployer: queued: waiting for a worker\n" +
		"deployer: started task t-1 (attempt 1)\n" +
		"deployer: failed: exit code 3 after 2s\n"
	for _, tc := range []struct {
		d              Dialect
		stdout, stderr string
	}{
		{Plain, taskLines(Plain), stderr},
		{GitLab, "\x1b[0Ksection_start:T:deployer_" + testJob + "_1\r\x1b[0K" + title + "\n" + taskLines(GitLab) +
			"\x1b[0Ksection_end:T:deployer_" + testJob + "_1\r\x1b[0K\n", stderr},
		{Buildkite, "--- " + title + "\n" + taskLines(Buildkite) + "^^^ +++\n", stderr},
		{GitHub, "::group::" + strings.ReplaceAll(title, "##[", `##\x5b`) + "\n::stop-commands::TOKEN\n" + taskLines(GitHub) + "::TOKEN::\n::endgroup::\n" +
			"::error title=deployer%3A ops hostile failed::job " + testJob + ": ops hostile " + strings.ReplaceAll(shownArgv, "##[", `##\x5b`) +
			": failed: exit code 3 after 2s. Output: deployer logs " + testJob + "\n",
			strings.ReplaceAll(stderr, "##[", `##\x5b`)},
	} {
		t.Run(string(tc.d), func(t *testing.T) {
			var out, errOut bytes.Buffer
			p := New(&out, &errOut)
			p.Dialect, p.Report = tc.d, true
			summary := filepath.Join(t.TempDir(), "summary.md")
			p.getenv = func(k string) string { return map[string]string{"GITHUB_STEP_SUMMARY": summary}[k] }
			followHostile(p, schemas.OutcomeFailed, three())
			got := gitlabStamp.ReplaceAllString(out.String(), "\x1b[0Ksection_${1}:T:")
			if m := stopRegion.FindStringSubmatch(got); m != nil {
				got = strings.ReplaceAll(got, m[1], "TOKEN")
			}
			if got != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tc.stdout)
			}
			if errOut.String() != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), tc.stderr)
			}
		})
	}
}

// TestGitHubRunnerActsOnDeployersCommandsOnly reads the github dialect's
// output as the runner does (ghrunner): the task's commands do nothing,
// deployer's own do what they say, and no line of stderr (which the
// runner reads apart, in no fixed order with stdout) is a command.
func TestGitHubRunnerActsOnDeployersCommandsOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome schemas.Outcome
		code    *int
	}{
		{"failed", schemas.OutcomeFailed, three()},
		{"succeeded", schemas.OutcomeSucceeded, new(int)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			p := New(&out, &errOut)
			p.Dialect, p.Report = GitHub, true
			summary := filepath.Join(t.TempDir(), "summary.md")
			p.getenv = func(k string) string { return map[string]string{"GITHUB_STEP_SUMMARY": summary}[k] }
			followHostile(p, tc.outcome, tc.code)

			r := ghrunner.New()
			var shown []string
			for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				if !r.Line(line) {
					shown = append(shown, line)
					if d := ghrunner.LogDirective(line); d != "" {
						t.Errorf("line %q is drawn as ##[%s] by the log viewer", line, d)
					}
				}
			}
			checkRunner(t, r, "ops hostile "+strings.ReplaceAll(shownArgv, "##[", `##\x5b`)+" (job "+testJob+", attempt 1)", tc.outcome != schemas.OutcomeSucceeded)
			if want := strings.Split(strings.TrimSuffix(taskLines(GitHub), "\n"), "\n"); !reflect.DeepEqual(shown, want) {
				t.Errorf("the log shows:\n%s\nwant every task line:\n%s", strings.Join(shown, "\n"), strings.Join(want, "\n"))
			}
			for _, line := range strings.Split(errOut.String(), "\n") {
				if c, ok := ghrunner.Parse(line, ""); ok {
					t.Errorf("stderr line %q is the command %+v", line, c)
				}
			}
			b, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			row := "| `" + testJob + "` | ops hostile \\-\\-ref \\'x\\|\\<b\\>\\`y\\`\\<\\/b\\> \\[l\\]\\(http\\:\\/\\/e\\) \\#\\#\\[add\\-mask\\]z\\' | 2s | "
			if tc.outcome == schemas.OutcomeSucceeded {
				row += "✅ succeeded | 0 | `deployer wait " + testJob + "` |\n"
			} else {
				row += "❌ failed | 3 | `deployer wait " + testJob + "` |\n"
			}
			want := "\n| Job | Request | Duration | Outcome | Exit code | Re-attach |\n|---|---|---|---|---|---|\n" + row
			if string(b) != want {
				t.Errorf("step summary:\n%s\nwant:\n%s", b, want)
			}
		})
	}
}

// checkRunner checks what the runner did: one group (title), commands
// stopped inside it and resumed, and nothing else but an error
// annotation when failed.
func checkRunner(t *testing.T, r *ghrunner.Runner, title string, failed bool) {
	t.Helper()
	if len(r.Outputs)+len(r.Env)+len(r.State)+len(r.Masks)+len(r.Paths)+len(r.Matchers) > 0 {
		t.Errorf("the task's commands acted: outputs %v, env %v, state %v, masks %v, paths %v, matchers %v",
			r.Outputs, r.Env, r.State, r.Masks, r.Paths, r.Matchers)
	}
	if stopped, token := r.Stopped(); stopped {
		t.Errorf("commands stay stopped (token %q) after deployer's output", token)
	}
	if len(r.Refused) > 0 {
		t.Errorf("the runner refused %+v", r.Refused)
	}
	if !reflect.DeepEqual(r.Groups, []string{title}) || r.Depth != 0 {
		t.Errorf("groups %q (open: %d), want [%q] closed", r.Groups, r.Depth, title)
	}
	var names []string
	for _, c := range r.Commands {
		names = append(names, c.Name)
	}
	token := "(the stop-commands token)"
	if len(r.Commands) > 1 {
		token = r.Commands[1].Data
	}
	want := []string{"group", "stop-commands", token, "endgroup"}
	if failed {
		want = append(want, "error")
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("commands acted on: %q, want %q", names, want)
	}
	if failed && (len(r.Annotations) != 1 || !strings.HasPrefix(r.Annotations[0].Properties["title"], "deployer: ops hostile")) {
		t.Errorf("annotations %+v, want deployer's error", r.Annotations)
	}
	if !failed && len(r.Annotations) > 0 {
		t.Errorf("annotations %+v for a job that succeeded", r.Annotations)
	}
}

// FuzzGitHubDialect prints any lines as a task's output in the github
// dialect and reads them as the runner does: no command of theirs acts,
// and each shows as one line of the log, in order.
func FuzzGitHubDialect(f *testing.F) {
	var all []string
	for _, l := range hostileLines {
		f.Add(l.in)
		all = append(all, l.in)
	}
	f.Add(strings.Join(all, "\n"))
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		var out, errOut bytes.Buffer
		p := New(&out, &errOut)
		p.Dialect = GitHub
		p.SetRequest("ops", "hostile", lines[:1])
		for i, l := range lines {
			p.Line(testJob, 1, schemas.LogLine{Seq: int64(i + 1), Text: l})
		}
		p.Close()
		r := ghrunner.New()
		var shown []string
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if !r.Line(line) {
				shown = append(shown, line)
				if d := ghrunner.LogDirective(line); d != "" {
					t.Fatalf("line %q is drawn as ##[%s]", line, d)
				}
			}
		}
		if len(r.Outputs)+len(r.Env)+len(r.State)+len(r.Masks)+len(r.Paths)+len(r.Matchers)+len(r.Annotations) > 0 {
			t.Fatalf("the task's commands acted: %+v", r)
		}
		if stopped, _ := r.Stopped(); stopped || len(r.Groups) != 1 || r.Depth != 0 || len(r.Commands) != 4 {
			t.Fatalf("deployer's markers did not work: stopped %t, groups %q, depth %d, commands %+v", stopped, r.Groups, r.Depth, r.Commands)
		}
		if len(shown) != len(lines) {
			t.Fatalf("%d lines in, %d shown:\n%q", len(lines), len(shown), shown)
		}
		for i, l := range lines {
			if shown[i] != noGitHubCommand(Sanitize(l, false)) {
				t.Fatalf("line %d %q shown as %q", i, l, shown[i])
			}
		}
	})
}

func TestGitHubOpensAGroupPerAttemptAndClosesOnClose(t *testing.T) {
	var out, errOut bytes.Buffer
	p := New(&out, &errOut)
	p.Dialect = GitHub
	p.Line(testJob, 1, schemas.LogLine{Seq: 1, Text: "first try"})
	p.Event(ev(schemas.EventStarted, 2))
	p.Line(testJob, 2, schemas.LogLine{Seq: 1, Text: "second try"})
	p.Close() // gave up following: the group still ends
	r := ghrunner.New()
	for _, line := range strings.Split(out.String(), "\n") {
		r.Line(line)
	}
	if stopped, _ := r.Stopped(); stopped || r.Depth != 0 ||
		!reflect.DeepEqual(r.Groups, []string{"job " + testJob + " (attempt 1)", "job " + testJob + " (attempt 2)"}) {
		t.Fatalf("groups %q, depth %d, stopped %t:\n%s", r.Groups, r.Depth, stopped, out.String())
	}
	tokens := stopRegion.FindAllStringSubmatch(out.String(), -1)
	if len(tokens) != 2 || tokens[0][1] == tokens[1][1] {
		t.Fatalf("stop-commands tokens %q: want one per region, each new", tokens)
	}
}

func TestGitHubStepSummaryProblemsAreWarnings(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"unset":      {},
		"unwritable": {"GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "no", "such", "dir", "summary.md")},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			p := New(&out, &errOut)
			p.Dialect, p.Report = GitHub, true
			p.getenv = func(k string) string { return env[k] }
			end := ev(schemas.EventFinished, 1)
			end.Outcome, end.ExitCode = schemas.OutcomeSucceeded, new(int)
			p.Event(end)
			p.Close()
			if !strings.Contains(errOut.String(), "deployer: warning: ") || !strings.Contains(errOut.String(), "step summary") {
				t.Fatalf("stderr %q: want a warning about the step summary", errOut.String())
			}
		})
	}
}

func TestStepSummaryStaysUnderGitHubsLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), stepSummaryLimit-10), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return path }
	if err := AppendStepSummary(env, SummaryTable("deployer", "", []SummaryRow{{JobID: testJob}})); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("err %v, want the limit named", err)
	}
	var rows []SummaryRow
	for range 2000 {
		rows = append(rows, SummaryRow{JobID: testJob, Request: strings.Repeat("a", 2000)})
	}
	table := SummaryTable("deployer", "", rows)
	if len(table) > maxSummary+2*maxSummaryCell || !strings.Contains(table, "more jobs") {
		t.Fatalf("a table of 2000 rows is %d bytes, without a count of those left out", len(table))
	}
}

func TestJSONOnGitHubKeepsItsValues(t *testing.T) {
	var out, errOut bytes.Buffer
	p := New(&out, &errOut)
	p.Dialect, p.jsonGuard = JSON, true
	text := "##[add-mask]x #\u200b#[set-output name=a;]b ::set-output name=c::d"
	p.Line(testJob, 1, schemas.LogLine{Seq: 1, Text: text})
	p.Close()
	line := strings.TrimSuffix(out.String(), "\n")
	if c, ok := ghrunner.Parse(line, ""); ok {
		t.Fatalf("JSON line %q is the command %+v", line, c)
	}
	var e schemas.JobEvent
	if err := json.Unmarshal([]byte(line), &e); err != nil || len(e.Lines) != 1 || e.Lines[0].Text != text {
		t.Fatalf("JSON line %q decodes to %+v (%v), want the text as written", line, e, err)
	}
	if errOut.Len() > 0 {
		t.Fatalf("stderr in JSON: %q", errOut.String())
	}
}

func TestMarkdownCellRendersAsText(t *testing.T) {
	for in, want := range map[string]string{
		"demo plan --ref main":         `demo plan \-\-ref main`,
		"a|b":                          `a\|b`,
		"<img src=x onerror=alert(1)>": `\<img src\=x onerror\=alert\(1\)\>`,
		"[click](http://evil)":         `\[click\]\(http\:\/\/evil\)`,
		"`code` *em* _u_ ~s~ &amp;":    "\\`code\\` \\*em\\* \\_u\\_ \\~s\\~ \\&amp\\;",
		"line\nbreak\x1b[2J":           `line\\nbreak\\x1b\[2J`,
	} {
		if got := markdownCell(in); got != want {
			t.Errorf("markdownCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGitHubErrorRoundTrips: an annotation's title and message reach the
// runner as written (Printable), whatever they hold.
func TestGitHubErrorRoundTrips(t *testing.T) {
	title, msg := "deployer: a::b, c %25 %0A", "job: x::y, 100% done\r\n##[add-mask]z"
	line := GitHubError(title, msg)
	r := ghrunner.New()
	if !r.Line(strings.TrimSuffix(line, "\n")) || len(r.Annotations) != 1 {
		t.Fatalf("%q: annotations %+v", line, r.Annotations)
	}
	a := r.Annotations[0]
	if a.Level != "error" || a.Properties["title"] != title || a.Message != `job: x::y, 100% done\r\n##\x5badd-mask]z` || len(r.Masks) > 0 {
		t.Fatalf("%q reached the runner as %+v, masks %q", line, a, r.Masks)
	}
}

func TestGitHubSummarySaysAJobNotFollowedToItsEnd(t *testing.T) {
	var out, errOut bytes.Buffer
	p := New(&out, &errOut)
	p.Dialect, p.Report = GitHub, true
	summary := filepath.Join(t.TempDir(), "summary.md")
	p.getenv = func(k string) string { return map[string]string{"GITHUB_STEP_SUMMARY": summary}[k] }
	p.SetRequest("ops", "deploy", nil)
	p.Unfinished(testJob)
	p.Close()
	b, err := os.ReadFile(summary)
	if want := "| `" + testJob + "` | ops deploy | - | ⏳ not ended | - | `deployer wait " + testJob + "` |\n"; err != nil || !strings.HasSuffix(string(b), want) {
		t.Fatalf("step summary %q (%v), want a row %q", b, err, want)
	}
}
