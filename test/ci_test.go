package test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/test/ghrunner"
)

// The CI dialects, end to end: "deployer run" of a task that prints what
// a compromised script would (workflow commands, GitLab section markers,
// Buildkite group headers, escape sequences that clear the screen and
// retitle the terminal, CR and line-separator tricks), under
// GITHUB_ACTIONS=true, GITLAB_CI=true and BUILDKITE=true.

const ciConfig = `
containers:
  ops:
    local: {scripts_dir: SCRIPTS}
    script_config:
      hostile: {allow_positional_args: true}
`

// hostileScript exits with its first argument.
const hostileScript = `#!/bin/sh
echo "::set-output name=deployed::true"
echo "::add-mask::hunter2"
echo "::set-env name=EVIL::1"
echo "::add-path::/tmp/evil"
echo "::save-state name=s::x"
echo "::error title=Deploy::all green"
echo "::endgroup::"
echo "::stop-commands::guess"
echo "::guess::"
echo "::set-output name=after::resumed"
echo "##[set-output name=v1;]true"
echo "  ##[group]fake group"
printf '\033[0Ksection_end:1:deployer_x\r\033[0K\n'
printf 'section_start:1:y\r\033[0Kfake\n'
echo "--- fake buildkite group"
echo "+++ fake"
echo "^^^ +++"
printf '\033[2J\033[H\033]0;pwned\007cleared\n'
printf 'cr\rdeployer: finished: exit code 0\n'
printf 'sep\342\200\250deployer: finished\n'
printf '\033[32mgreen\033[0m\n'
echo "last line"
exit "$1"
`

// hostileShown is how the plain dialect shows hostileScript's lines; the
// CI dialects differ where shownIn says.
var hostileShown = []string{
	"::set-output name=deployed::true",
	"::add-mask::hunter2",
	"::set-env name=EVIL::1",
	"::add-path::/tmp/evil",
	"::save-state name=s::x",
	"::error title=Deploy::all green",
	"::endgroup::",
	"::stop-commands::guess",
	"::guess::",
	"::set-output name=after::resumed",
	"##[set-output name=v1;]true",
	"  ##[group]fake group",
	`\x1b[0Ksection_end:1:deployer_x\r\x1b[0K`,
	`section_start:1:y\r\x1b[0Kfake`,
	"--- fake buildkite group",
	"+++ fake",
	"^^^ +++",
	`\x1b[2J\x1b[H\x1b]0;pwned\acleared`,
	`cr\rdeployer: finished: exit code 0`,
	`sep\u2028deployer: finished`,
	"green",
	"last line",
}

// shownIn is hostileShown as dialect shows it.
func shownIn(dialect string) []string {
	out := append([]string(nil), hostileShown...)
	for i, l := range out {
		switch dialect {
		case "github":
			out[i] = strings.ReplaceAll(l, "##[", `##\x5b`)
		case "buildkite":
			for _, m := range []string{"---", "+++", "^^^"} {
				if strings.HasPrefix(l, m+" ") {
					out[i] = `\x` + map[string]string{"---": "2d", "+++": "2b", "^^^": "5e"}[m] + l[1:]
				}
			}
		}
	}
	return out
}

// hostileArg is an argument the request's title, annotation and summary
// must show as text.
const hostileArg = "x|<b>`y`</b> [l](http://e) ##[add-mask]z"

func newCIEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	e := newEnv(t, ciConfig, map[string]string{"hostile": hostileScript})
	e.extraEnv = extra
	return e
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// TestGitHubActionsDialect: groups, an annotation on failure and a step
// summary; and, read as the runner reads it, nothing from the task acts:
// the step's outputs, environment, path, state, masks and annotations are
// deployer's, and every line of the task shows.
func TestGitHubActionsDialect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{}
	var extra []string
	for _, v := range []string{"GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		files[v] = filepath.Join(dir, strings.ToLower(v))
		if err := os.WriteFile(files[v], nil, 0o644); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, v+"="+files[v])
	}
	e := newCIEnv(t, append(extra, "GITHUB_ACTIONS=true")...)

	var summary strings.Builder
	for _, tc := range []struct {
		code, outcome, row string
	}{
		{"3", "failed", "❌ failed | 3"},
		{"0", "succeeded", "✅ succeeded | 0"},
	} {
		r := e.run("run", "--", "ops", "hostile", tc.code, hostileArg)
		if want := map[string]int{"3": 3, "0": 0}[tc.code]; r.code != want {
			t.Fatalf("exit code %d, want %d; stderr:\n%s", r.code, want, r.stderr)
		}
		id := jobSubmitted.FindStringSubmatch(r.stderr)[1]
		shownArgs := "'x|<b>`y`</b> [l](http://e) ##\\x5badd-mask]z'"
		title := "ops hostile " + tc.code + " " + shownArgs + " (job " + id + ", attempt 1)"

		runner := ghrunner.New()
		var shown []string
		for _, line := range lines(r.stdout) {
			if !runner.Line(line) {
				shown = append(shown, line)
				if d := ghrunner.LogDirective(line); d != "" {
					t.Errorf("the log viewer draws %q as ##[%s]", line, d)
				}
			}
		}
		if !reflect.DeepEqual(shown, shownIn("github")) {
			t.Errorf("the log shows:\n%s\nwant every line of the task:\n%s", strings.Join(shown, "\n"), strings.Join(shownIn("github"), "\n"))
		}
		if len(runner.Outputs)+len(runner.Env)+len(runner.State)+len(runner.Masks)+len(runner.Paths)+len(runner.Matchers)+len(runner.Refused) > 0 {
			t.Errorf("the task's commands acted: %+v", runner)
		}
		if stopped, _ := runner.Stopped(); stopped || !reflect.DeepEqual(runner.Groups, []string{title}) || runner.Depth != 0 {
			t.Errorf("groups %q (open %d, commands stopped %t), want [%q] closed", runner.Groups, runner.Depth, stopped, title)
		}
		var annotations []string
		for _, a := range runner.Annotations {
			annotations = append(annotations, a.Level+": "+a.Properties["title"]+": "+a.Message)
		}
		var want []string
		if tc.outcome == "failed" {
			want = []string{"error: deployer: ops hostile failed: job " + id + ": ops hostile 3 " + shownArgs +
				": failed: exit code 3 after "}
		}
		if len(annotations) != len(want) || len(want) == 1 && !strings.HasPrefix(annotations[0], want[0]) {
			t.Errorf("annotations %q, want %q…", annotations, want)
		}
		for _, line := range lines(r.stderr) {
			if c, ok := ghrunner.Parse(line, ""); ok {
				t.Errorf("stderr line %q is the workflow command %+v", line, c)
			}
			if !strings.HasPrefix(line, "deployer: ") {
				t.Errorf("stderr line %q is not deployer's", line)
			}
		}
		summary.WriteString("\n| Job | Request | Duration | Outcome | Exit code | Re-attach |\n|---|---|---|---|---|---|\n" +
			"| `" + id + "` | ops hostile " + tc.code + " \\'x\\|\\<b\\>\\`y\\`\\<\\/b\\> \\[l\\]\\(http\\:\\/\\/e\\) \\#\\#\\[add\\-mask\\]z\\' | DURATION | " +
			tc.row + " | `deployer wait " + id + "` |\n")
	}
	b, err := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`\| [0-9.]+m?s \|`).ReplaceAllString(string(b), "| DURATION |")
	if got != summary.String() {
		t.Errorf("step summary:\n%s\nwant:\n%s", got, summary.String())
	}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		if b, err := os.ReadFile(files[v]); err != nil || len(b) > 0 {
			t.Errorf("$%s holds %q (%v): want it untouched", v, b, err)
		}
	}

	// Without a step summary to write to, a warning; the job's exit code
	// is unchanged.
	e.extraEnv = []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY="}
	r := e.run("run", "--", "ops", "hostile", "0")
	if r.code != 0 || !strings.Contains(r.stderr, "deployer: warning: $GITHUB_STEP_SUMMARY is not set") {
		t.Errorf("exit code %d, want 0 and a warning; stderr:\n%s", r.code, r.stderr)
	}
}

// gitlabSection is GitLab's pattern of a section marker
// (lib/gitlab/regex.rb, build_trace_section_regex), applied, as GitLab
// does, to the whole log.
var gitlabSection = regexp.MustCompile(`section_((?:start)|(?:end)):(\d+):([a-zA-Z0-9_.-]+)(\[(?:\w+=\w+)(?:, ?(?:\w+=\w+))*\])?\r\x1b\[0K`)

func TestGitLabCIDialect(t *testing.T) {
	t.Parallel()
	e := newCIEnv(t, "GITLAB_CI=true")
	r := e.run("run", "--", "ops", "hostile", "2")
	if r.code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", r.code, r.stderr)
	}
	id := jobSubmitted.FindStringSubmatch(r.stderr)[1]
	var markers []string
	for _, m := range gitlabSection.FindAllStringSubmatch(r.stdout, -1) {
		markers = append(markers, m[1]+" "+m[3])
	}
	name := "deployer_" + id + "_1"
	if want := []string{"start " + name, "end " + name}; !reflect.DeepEqual(markers, want) {
		t.Errorf("section markers %q, want only deployer's %q", markers, want)
	}
	out := lines(r.stdout)
	if len(out) < 2 {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if want := "ops hostile 2 (job " + id + ", attempt 1)"; !strings.HasSuffix(out[0], "\r\x1b[0K"+want) {
		t.Errorf("first line %q: want the section's header %q", out[0], want)
	}
	if got := out[1 : len(out)-1]; !reflect.DeepEqual(got, shownIn("gitlab")) {
		t.Errorf("section holds:\n%s\nwant every line of the task:\n%s", strings.Join(got, "\n"), strings.Join(shownIn("gitlab"), "\n"))
	}
	if strings.Contains(r.stderr, "\x1b") {
		t.Errorf("stderr holds an escape sequence: %q", r.stderr)
	}
}

// buildkiteHeader is Buildkite's pattern of a group header (the agent's
// headerRegex) and of "expand the previous group".
var buildkiteHeader = regexp.MustCompile(`^(?:(?:---|\+\+\+|~~~)\s|\^\^\^\s+\+\+\+)`)

func TestBuildkiteDialect(t *testing.T) {
	t.Parallel()
	e := newCIEnv(t, "BUILDKITE=true")
	r := e.run("run", "--", "ops", "hostile", "4")
	if r.code != 4 {
		t.Fatalf("exit code %d, want 4; stderr:\n%s", r.code, r.stderr)
	}
	id := jobSubmitted.FindStringSubmatch(r.stderr)[1]
	var headers, body []string
	for _, l := range lines(r.stdout) {
		if buildkiteHeader.MatchString(l) {
			headers = append(headers, l)
		} else {
			body = append(body, l)
		}
	}
	if want := []string{"--- ops hostile 4 (job " + id + ", attempt 1)", "^^^ +++"}; !reflect.DeepEqual(headers, want) {
		t.Errorf("group headers %q, want only deployer's %q", headers, want)
	}
	if !reflect.DeepEqual(body, shownIn("buildkite")) {
		t.Errorf("groups hold:\n%s\nwant every line of the task:\n%s", strings.Join(body, "\n"), strings.Join(shownIn("buildkite"), "\n"))
	}
}

// TestPlainDialectOffATerminal: no CI, no terminal: the lines, harmless,
// and no escape sequence anywhere.
func TestPlainDialectOffATerminal(t *testing.T) {
	t.Parallel()
	e := newCIEnv(t)
	r := e.run("run", "--", "ops", "hostile", "0")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	if got := lines(r.stdout); !reflect.DeepEqual(got, hostileShown) {
		t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(hostileShown, "\n"))
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\r") {
		t.Errorf("an escape or CR reached the output:\n%q\n%q", r.stdout, r.stderr)
	}
	// --output plain under GitHub Actions: no markers either.
	e.extraEnv = []string{"GITHUB_ACTIONS=true"}
	r = e.run("run", "--output", "plain", "--", "ops", "hostile", "0")
	if got := lines(r.stdout); r.code != 0 || !reflect.DeepEqual(got, hostileShown) {
		t.Errorf("--output plain: exit %d, stdout:\n%s", r.code, r.stdout)
	}
}
