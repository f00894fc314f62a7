package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// completionConfig allow-lists two containers, one whose description
// would set the terminal's title and clear the screen if printed raw.
const completionConfig = `
containers:
  infra:
    description: "Terraform \e]0;pwned\a\e[2J plans"
    local: {scripts_dir: SCRIPTS}
    script_config:
      plan:
        allowed_options: [--path, --command, --output]
        allowed_options_without_args: [--refresh-only]
        restricted_options_regex:
          --command: "^(?:plan|plan-all|validate)$"
          --output: "^(?:text|table)$"
      apply: {allowed_options: []}
  web:
    local: {scripts_dir: SCRIPTS}
    script_config:
      build: {allow_positional_args: true, allowed_options: []}
`

var completionScripts = map[string]string{
	"plan":  "#!/bin/sh\necho planned\n",
	"apply": "#!/bin/sh\necho applied\n",
	"build": "#!/bin/sh\necho built\n",
}

// shellEnv is the environment a user's shell would complete in: deployer
// on the PATH, this setup's state directory and configuration in the
// environment, and a home, cache and shell configuration of its own.
func (e *env) shellEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append(append(os.Environ(),
		"PATH="+filepath.Dir(deployerBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DEPLOYER_STATE_DIR="+e.state, "DEPLOYER_CONFIG="+e.config, "DEPLOYER_BACKEND=", "DEPLOYER_COMPLETION_TIMEOUT=",
		"COLUMNS=200", "LINES=50", "TERM=xterm", "BASH_COMP_DEBUG_FILE="), extra...)
}

// completeWith runs "bin __complete args..." in env and returns the
// candidates (name TAB description) and the directive; it fails the test
// unless the command exits 0 and writes nothing on stderr but cobra's
// note of the directive.
func completeWith(t *testing.T, bin string, env []string, args ...string) (cands []string, directive string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, append([]string{"__complete"}, args...)...)
	c.Env = env
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		t.Fatalf("__complete %q: %v\nstderr:\n%s", args, err, errOut.String())
	}
	if !regexp.MustCompile(`\ACompletion ended with directive: [A-Za-z, ]+\n\z`).MatchString(errOut.String()) {
		t.Errorf("__complete %q: stderr %q", args, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func candidateNames(cands []string) []string {
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		name, _, _ := strings.Cut(c, "\t")
		out = append(out, name)
	}
	return out
}

// printableLines fails unless every candidate is a printable line: a
// name and at most one tab before its description.
func printableLines(t *testing.T, cands []string) {
	t.Helper()
	for _, c := range cands {
		if strings.Count(c, "\t") > 1 || strings.ContainsFunc(strings.Replace(c, "\t", "", 1), func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Errorf("candidate %q is not one printable line", c)
		}
	}
}

// TestCompletionOfTheBuiltBinary asks the built binary for completions
// as the shells do ("deployer __complete WORDS..."): the containers and
// scripts of the configuration, a script's options and the values of a
// plain-alternation pattern, and recent job ids with their arguments
// escaped.
func TestCompletionOfTheBuiltBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, completionConfig, completionScripts)
	env := e.shellEnv(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--", ""}, []string{"infra", "web"}},
		{[]string{"run", "--", "infra", ""}, []string{"apply", "plan"}},
		{[]string{"run", "--", "infra", "plan", ""}, []string{"--command", "--output", "--path", "--refresh-only"}},
		// The script's --output, not deployer's.
		{[]string{"run", "--", "infra", "plan", "--output", ""}, []string{"table", "text"}},
		{[]string{"--", "infra", "plan", "--path", "x", "--output=t"}, []string{"--output=table", "--output=text"}},
		{[]string{"run", "--", "infra", "plan", "--command", ""}, []string{"plan", "plan-all", "validate"}},
		{[]string{"run", "--", "infra", "plan", "--command=v"}, []string{"--command=validate"}},
		{[]string{"--", "w"}, []string{"web"}}, // the run-less form
		{[]string{"jobs", "--container", ""}, []string{"infra", "web"}},
		{[]string{"wait", "--output", ""}, []string{"text", "json", "github", "gitlab", "buildkite", "plain"}},
		{[]string{"jobs", "--output", ""}, []string{"text", "json"}},
		{[]string{"wait", ""}, nil}, // no job yet
	} {
		got, directive := completeWith(t, deployerBin, env, c.args...)
		if !slices.Equal(candidateNames(got), c.want) || directive == ":0" {
			t.Errorf("__complete %q: %q (directive %s), want %q", c.args, got, directive, c.want)
		}
		printableLines(t, got)
	}
	got, _ := completeWith(t, deployerBin, env, "run", "--", "")
	if len(got) != 2 || !strings.Contains(got[0], `Terraform \x1b]0;pwned\a\x1b[2J plans`) {
		t.Errorf("the container's description, escaped: %q", got)
	}

	// A job whose arguments hold a tab, a bidirectional override and
	// 300 bytes: its description is one short printable line.
	id, err := e.submit("web", "build", "a\tb", "\u202eevil", strings.Repeat("y", 300))
	if err != nil {
		t.Fatal(err)
	}
	if r := e.run("wait", id); r.code != 0 {
		t.Fatalf("wait %s: exit %d\n%s", id, r.code, r.stderr)
	}
	got, directive := completeWith(t, deployerBin, env, "wait", "")
	if len(got) != 1 || !strings.HasPrefix(got[0], id+"\tweb build 'a\\tb' '\\u202eevil' yyy") || !strings.HasSuffix(got[0], "…") {
		t.Errorf("job ids %q", got)
	}
	if directive != ":36" { // no files, keep the order (newest first)
		t.Errorf("directive %s", directive)
	}
	printableLines(t, got)
	if got, _ := completeWith(t, deployerBin, env, "cancel", ""); len(got) != 0 {
		t.Errorf("cancel offers a job that ended: %q", got)
	}
}

// requireShell returns the path of a shell the test drives, or skips the
// test saying what is missing; with $DEPLOYER_TEST_SHELLS set (.ci/run
// sets it once it has installed them) a missing shell fails it instead.
func requireShell(t *testing.T, name string, files ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	var missing []string
	if err != nil {
		missing = append(missing, name)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return path
	}
	msg := "not installed: " + strings.Join(missing, ", ") + " (Debian: apt-get install zsh fish bash-completion; .ci/run installs them)"
	if os.Getenv("DEPLOYER_TEST_SHELLS") != "" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED, " + msg)
	return ""
}

// runShell runs a shell command line and returns its stdout.
func runShell(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = env
	c.Stdin = nil
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGKILL) }
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", name, err, out.String(), errOut.String())
	}
	return out.String()
}

// blocks splits a shell's output at its "=====" lines.
func blocks(out string) [][]string {
	var bs [][]string
	var cur []string
	for _, l := range strings.Split(out, "\n") {
		if l == "=====" {
			bs = append(bs, cur)
			cur = nil
			continue
		}
		if strings.TrimSpace(l) != "" {
			cur = append(cur, l)
		}
	}
	return bs
}

// firstWords is the first word of each line.
func firstWords(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

// noRawEscape fails when the shell's output holds the description's
// escape sequences as the terminal would act on them, or does not show
// the description at all. (bash and fish show it as deployer escapes it,
// "\x1b]0;pwned\a"; zsh's _describe drops the backslashes.)
func noRawEscape(t *testing.T, shell, out string) {
	t.Helper()
	if strings.Contains(out, "\x1b]0;pwned") || strings.Contains(out, "\x1b[2J") {
		t.Errorf("%s printed the description's escape sequences raw:\n%q", shell, out)
	}
	if !strings.Contains(out, `x1b]0;pwned`) {
		t.Errorf("%s did not show the container's description, escaped:\n%q", shell, out)
	}
}

// TestCompletionInBash loads "deployer completion bash" into bash with
// the bash-completion package, as a user's shell does, and calls the
// function it registers for deployer as bash calls it on TAB (COMP_WORDS,
// COMP_CWORD, COMP_LINE, COMP_POINT; COMP_TYPE 63 lists the candidates
// with their descriptions).
func TestCompletionInBash(t *testing.T) {
	t.Parallel()
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	bash := requireShell(t, "bash", bashCompletion)
	e := newEnv(t, completionConfig, completionScripts)
	script := `
source ` + bashCompletion + `
source <(deployer completion bash)
fn=$(complete -p deployer | sed -E 's/.* -F ([^ ]+) .*/\1/')
tab() {
	COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; COMP_TYPE=63
	read -ra COMP_WORDS <<<"$COMP_LINE"
	[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn" deployer "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}"
	echo =====
}
tab "deployer run -- "
tab "deployer run -- infra "
tab "deployer run -- infra plan --"
tab "deployer run -- infra plan --command "
tab "deployer run -- infra plan --output "
tab "deployer -- w"
`
	out := runShell(t, e.shellEnv(t), bash, "--norc", "--noprofile", "-i", "-c", script)
	bs := blocks(out)
	want := [][]string{{"infra", "web"}, {"apply", "plan"}, {"--command", "--output", "--path", "--refresh-only"}, {"plan", "plan-all", "validate"}, {"table", "text"}, {"web"}}
	if len(bs) != len(want) {
		t.Fatalf("bash printed %d blocks, want %d:\n%s", len(bs), len(want), out)
	}
	for i, w := range want {
		if got := firstWords(bs[i]); !slices.Equal(got, w) {
			t.Errorf("bash, completion %d: %q, want %q\n%s", i+1, got, w, out)
		}
	}
	noRawEscape(t, "bash", out)
}

// TestCompletionInZsh runs an interactive "zsh -f" in a pseudo-terminal
// (zsh's zpty module), enables completion (compinit), loads "deployer
// completion zsh" and types command lines ending with TAB, as a user
// does; zsh lists the candidates with their descriptions.
func TestCompletionInZsh(t *testing.T) {
	t.Parallel()
	zsh := requireShell(t, "zsh")
	e := newEnv(t, completionConfig, completionScripts)
	// The prompt, "<zle>", is written only once zsh reads a line (the
	// command that sets it reads "<z%(?.l.l)e>"): typing before it would
	// reach the terminal's line editing, not zsh's.
	driver := `
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT='<z%(?.l.l)e>'; autoload -U compinit; compinit -u; source <(deployer completion zsh)"
zpty -r z line '*<zle>*'
for input in "$@"; do
	zpty -w -n z "$input"
	zpty -w z $'\C-u echo DO''NE'
	zpty -r z out '*DONE*<zle>*'
	print -r -- "$out"
	print -r -- '====='  # quoted: =word is a command's path in zsh
done
zpty -d z
`
	out := runShell(t, e.shellEnv(t), zsh, "-f", "-c", driver, "zsh",
		"deployer run -- \t", "deployer run -- infra \t", "deployer run -- infra plan --command \t",
		"deployer run -- infra plan --output \t\t", // the first TAB inserts their common "t"
		"deployer run -- w\t")
	bs := blocks(out)
	if len(bs) != 5 {
		t.Fatalf("zsh printed %d blocks, want 5:\n%q", len(bs), out)
	}
	csi := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	listed := func(b []string, names ...string) {
		t.Helper()
		text := csi.ReplaceAllString(strings.Join(b, "\n"), " ")
		for _, n := range names {
			if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(n) + `(\s|$)`).MatchString(text) {
				t.Errorf("zsh did not offer %s:\n%q", n, text)
			}
		}
	}
	listed(bs[0], "infra", "web")
	listed(bs[1], "apply", "plan")
	listed(bs[2], "plan-all", "validate")
	listed(bs[3], "table", "text")
	// One candidate: zsh completes the word in place.
	if !strings.Contains(strings.Join(bs[4], "\n"), "deployer run -- web") {
		t.Errorf("zsh did not complete web:\n%q", strings.Join(bs[4], "\n"))
	}
	noRawEscape(t, "zsh", out)
}

// TestCompletionInFish loads "deployer completion fish" into fish and
// asks fish what it would complete ("complete -C").
func TestCompletionInFish(t *testing.T) {
	t.Parallel()
	fish := requireShell(t, "fish")
	e := newEnv(t, completionConfig, completionScripts)
	script := `deployer completion fish | source
for line in "deployer run -- " "deployer run -- infra " "deployer run -- infra plan --" "deployer run -- infra plan --command " "deployer run -- infra plan --output " "deployer -- w"
	complete -C "$line"
	echo =====
end`
	out := runShell(t, e.shellEnv(t), fish, "--no-config", "-c", script)
	bs := blocks(out)
	want := [][]string{{"infra", "web"}, {"apply", "plan"}, {"--command", "--output", "--path", "--refresh-only"}, {"plan", "plan-all", "validate"}, {"table", "text"}, {"web"}}
	if len(bs) != len(want) {
		t.Fatalf("fish printed %d blocks, want %d:\n%s", len(bs), len(want), out)
	}
	for i, w := range want {
		if got := firstWords(bs[i]); !slices.Equal(got, w) {
			t.Errorf("fish, completion %d: %q, want %q\n%s", i+1, got, w, out)
		}
	}
	noRawEscape(t, "fish", out)
}

// TestAWSCompletionAsksTheGatekeeperThenTheCache completes
// infrastructure-deployer's command lines against a deployment served by
// "deployer up --provision" on the AWS fakes: the containers and scripts
// come from the gatekeeper's answer to describe; once the gatekeeper is
// gone they still come, from the cache, for a minute; with no cache and
// no gatekeeper there are none, within the bound, and nothing on stderr.
func TestAWSCompletionAsksTheGatekeeperThenTheCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compatConfig, compatScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)
	bin := infrastructureDeployer(t)
	env := append(e.shellEnv(t), e.extraEnv...)
	env = append(env, "DEPLOYER_CONFIG=", "DEPLOYER_BACKEND=", "AWS_REGION=", "AWS_DEFAULT_REGION=", "DEPLOYER_AWS_REGION=",
		"DEPLOYER_COMPLETION_TIMEOUT=20s") // the fakes answer at once; a loaded CI machine may not

	got, _ := completeWith(t, bin, env, "--aws-region", "us-east-1", "--", "")
	if want := []string{"docker-image-builder", "terraform-planner"}; !slices.Equal(candidateNames(got), want) {
		t.Fatalf("containers %q, want %q", got, want)
	}
	got, _ = completeWith(t, bin, env, "--aws-region", "us-east-1", "--", "terraform-planner", "infrastructure-deploy-script", "--")
	if want := []string{"--binary", "--command", "--deploy-path", "--ref"}; !slices.Equal(candidateNames(got), want) {
		t.Fatalf("options %q, want %q", got, want)
	}

	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	up.wait(t, time.Minute)
	got, _ = completeWith(t, bin, env, "--aws-region", "us-east-1", "--", "docker")
	if !slices.Equal(candidateNames(got), []string{"docker-image-builder"}) {
		t.Fatalf("containers %q from the cache", got)
	}

	// No cache and no gatekeeper: nothing, within the bound.
	env = append(env, "XDG_CACHE_HOME="+t.TempDir(), "DEPLOYER_COMPLETION_TIMEOUT=1s")
	start := time.Now()
	got, _ = completeWith(t, bin, env, "--aws-region", "us-east-1", "--", "")
	if len(got) != 0 || time.Since(start) > 15*time.Second {
		t.Fatalf("containers %q after %s with no gatekeeper", got, time.Since(start))
	}
}
