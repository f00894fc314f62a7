package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

// complete runs "__complete args..." as mode's command line on a state
// directory of its own (the built-in example configuration) and returns
// the candidates' names, the directive line and stderr.
func complete(t *testing.T, mode Mode, args ...string) (names []string, directive, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"DEPLOYER_STATE_DIR": filepath.Join(t.TempDir(), "state"), "XDG_CACHE_HOME": t.TempDir()}
	f := &factory.Factory{
		IO:         factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv:     func(k string) string { return env[k] },
		Executable: os.Executable,
	}
	if code := ExecuteAs(context.Background(), f, mode, append([]string{"__complete"}, args...)); code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s", args, code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names, lines[len(lines)-1], errOut.String()
}

func TestCompleteThroughTheCommandLine(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--", ""}, []string{"demo"}},
		{[]string{"run", ""}, []string{"demo"}},
		{[]string{"run", "--", "demo", ""}, []string{"fail", "hello", "plan"}},
		{[]string{"run", "--no-wait", "--", "demo", "plan", ""}, []string{"--path", "--ref", "--refresh-only"}},
		{[]string{"run", "--", "demo", "plan", "--ref", "main", "--"}, []string{"--path", "--refresh-only"}},
		{[]string{"run", "--", "demo", "hello", "world", ""}, nil},
		// A script option spelled like one of deployer's flags is the
		// script's.
		{[]string{"run", "--", "demo", "plan", "--output", "x", "--"}, []string{"--path", "--ref", "--refresh-only"}},
		{[]string{"--", "demo", "plan", "--config="}, nil},
		// The run-less form: containers, not the subcommands.
		{[]string{"--", ""}, []string{"demo"}},
		{[]string{"--max-wait-time", "1h", "--", "demo", "p"}, []string{"plan"}},
		{[]string{"--output", ""}, []string{"text", "json"}},
		{[]string{"wait", "--output", "j"}, []string{"json"}},
		{[]string{"--backend", ""}, []string{"embedded", "aws"}},
		{[]string{"jobs", "--state", "queued,r"}, []string{"queued,rejected", "queued,running"}},
		{[]string{"jobs", "--container", ""}, []string{"demo"}},
		{[]string{"jobs", "--lane", ""}, []string{"default"}},
		{[]string{"dlq", "replay", "--script", "h"}, []string{"hello"}},
		{[]string{"dlq", "list", "--queue", ""}, []string{"run", "request"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "powershell", "zsh"}},
		{[]string{"wait", ""}, nil}, // no state directory yet: no jobs, and none created
		{[]string{"describe", ""}, nil},
	}
	for _, c := range cases {
		got, directive, stderr := complete(t, Deployer, c.args...)
		if !slices.Equal(got, c.want) {
			t.Errorf("__complete %q: %q, want %q", c.args, got, c.want)
		}
		if directive == ":0" {
			t.Errorf("__complete %q: directive %s offers files", c.args, directive)
		}
		// cobra's own note of the directive is all that reaches stderr.
		if !strings.HasPrefix(stderr, "Completion ended with directive:") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("__complete %q: stderr %q", c.args, stderr)
		}
	}
	got, _, _ := complete(t, Deployer, "")
	if !slices.Contains(got, "completion") || !slices.Contains(got, "run") || slices.Contains(got, "demo") {
		t.Errorf("commands %q", got)
	}
}

func TestCompletionCommandWritesEachShellsScript(t *testing.T) {
	for _, c := range []struct {
		mode  Mode
		shell string
		want  string
	}{
		{Deployer, "bash", "__start_deployer"},
		{Deployer, "zsh", "#compdef deployer"},
		{Deployer, "fish", "complete -c deployer"},
		{Deployer, "powershell", "Register-ArgumentCompleter"},
		{InfrastructureDeployer, "bash", "__start_infrastructure-deployer"},
	} {
		f, out, errOut := newFactory(t)
		if code := ExecuteAs(context.Background(), f, c.mode, []string{"completion", c.shell}); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", c.shell, code, errOut)
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("completion %s: no %q in the script", c.shell, c.want)
		}
	}
	f, _, errOut := newFactory(t)
	if code := Execute(context.Background(), f, []string{"completion"}); code != 64 || !strings.Contains(errOut.String(), "bash, zsh, fish or powershell") {
		t.Errorf("completion without a shell: exit %d, %q", code, errOut)
	}
	f, out, _ := newFactory(t)
	if code := Execute(context.Background(), f, []string{"completion", "bash", "--help"}); code != 0 || !strings.Contains(out.String(), "bash-completion") ||
		!strings.Contains(out.String(), "~/.local/share/bash-completion/completions/deployer") {
		t.Errorf("completion bash --help: exit %d\n%s", code, out)
	}
}
