package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConfig allows scripts x and y of container app; tightened drops x
// and adds a container in a lane of its own.
const (
	reloadConfig = `
containers:
  app:
    local: {scripts_dir: SCRIPTS}
    script_config:
      x: {allowed_options: []}
      y: {allowed_options: []}
`
	tightenedConfig = `
lanes:
  fresh: {concurrency: 1}
containers:
  app:
    local: {scripts_dir: SCRIPTS}
    script_config:
      y: {allowed_options: []}
  other:
    local: {scripts_dir: SCRIPTS}
    lane: fresh
    script_config:
      y: {allowed_options: []}
`
)

var reloadScripts = map[string]string{
	"x": "#!/bin/sh\necho x ran\n",
	"y": "#!/bin/sh\necho y ran\n",
}

var (
	policyInForce = regexp.MustCompile(`policy in force: (sha256:[0-9a-f]{12})`)
	reloaded      = regexp.MustCompile(`configuration reloaded: (sha256:[0-9a-f]{12}) \(was (sha256:[0-9a-f]{12})`)
)

// writeConfig writes a configuration over e's file in place.
func (e *env) writeConfig(config string) {
	e.t.Helper()
	config = strings.ReplaceAll(config, "SCRIPTS", e.scripts)
	if err := os.WriteFile(e.config, []byte(config), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// serverConfig are the global flags of a command that names no
// configuration of its own (the last --config wins): it uses the server's.
var serverConfig = []string{"--config", ""}

func TestReloadOnFileChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, reloadConfig, reloadScripts)
	up := e.start("up", "-v")
	first := up.stderr.waitFor(t, policyInForce, 30*time.Second)[1]
	if r := e.run("run", "--", "app", "x"); r.code != 0 {
		t.Fatalf("x before the reload: exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}

	// Tightened: x goes, a lane and its container arrive.
	wrote := time.Now()
	e.writeConfig(tightenedConfig)
	m := up.stderr.waitFor(t, reloaded, 10*time.Second)
	latency := time.Since(wrote)
	t.Logf("reload latency (file written → reload logged): %s", latency)
	if latency > time.Second {
		t.Errorf("reloaded %s after the file changed, want within a second", latency)
	}
	second := m[1]
	if m[2] != first || second == first {
		t.Fatalf("reloaded %s (was %s), want a new digest replacing %s", second, m[2], first)
	}
	r := e.run("run", "--no-wait", "--", "app", "x")
	if r.code != 0 {
		t.Fatalf("submitting x: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	jobID := strings.TrimSpace(r.stdout)
	if r := e.run("wait", jobID); r.code != 77 {
		t.Fatalf("x after the reload: exit %d, want 77 (rejected); stderr:\n%s", r.code, r.stderr)
	}
	if r := e.run("status", jobID); !strings.Contains(r.stdout, second+" (decided under)") {
		t.Errorf("status does not show the policy %s the job was decided under:\n%s", second, r.stdout)
	}
	if r := e.run("run", "--", "other", "y"); r.code != 0 || !strings.Contains(r.stdout, "y ran") {
		t.Fatalf("a job of the new lane: exit %d, want 0; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("describe"); !strings.Contains(r.stdout, "policy in force: "+second) {
		t.Errorf("describe does not show the policy in force %s:\n%s", second, r.stdout)
	}

	// Broken: refused with every problem named; the old policy stays.
	e.writeConfig(strings.Replace(tightenedConfig, "lane: fresh", "lane: fresh\n    imagee: x\n    task_cpu: lots", 1))
	refused := up.stderr.waitFor(t, regexp.MustCompile(`configuration (\S+) refused \(file changed\); still enforcing (sha256:[0-9a-f]{12})`), 10*time.Second)
	if refused[1] != e.config || refused[2] != second {
		t.Errorf("refusal names %s and %s, want %s and %s", refused[1], refused[2], e.config, second)
	}
	for _, problem := range []string{`containers.other.imagee`, `containers.other.task_cpu`} {
		up.stderr.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(problem)), 10*time.Second)
	}
	if r := e.run(append(serverConfig, "run", "--", "app", "y")...); r.code != 0 {
		t.Fatalf("y under the old policy: exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if r := e.run(append(serverConfig, "run", "--", "app", "x")...); r.code != 77 {
		t.Fatalf("x under the old policy: exit %d, want 77; stderr:\n%s", r.code, r.stderr)
	}
	// The broken file given explicitly is a configuration error.
	if r := e.run("run", "--", "app", "y"); r.code != 78 {
		t.Fatalf("run with the broken file: exit %d, want 78; stderr:\n%s", r.code, r.stderr)
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, reloadConfig, reloadScripts)
	// Without the watcher, only SIGHUP can make the change known.
	up := e.start("up", "-v", "--watch-config=false")
	first := up.stderr.waitFor(t, policyInForce, 30*time.Second)[1]
	e.writeConfig(tightenedConfig)
	if err := up.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m := up.stderr.waitFor(t, regexp.MustCompile(`configuration reloaded: (sha256:[0-9a-f]{12}) \(was (sha256:[0-9a-f]{12}); \S+, SIGHUP\)`), 10*time.Second)
	if m[2] != first || m[1] == first {
		t.Fatalf("reloaded %s (was %s), want a new digest replacing %s", m[1], m[2], first)
	}
	if r := e.run("run", "--", "app", "x"); r.code != 77 {
		t.Fatalf("x after SIGHUP: exit %d, want 77; stderr:\n%s", r.code, r.stderr)
	}
	// Still serving: a second SIGHUP reloads again, unchanged.
	if err := up.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	up.stderr.waitFor(t, regexp.MustCompile(`configuration reloaded: `+m[1]+` \(unchanged`), 10*time.Second)
	if r := e.run("run", "--", "app", "y"); r.code != 0 {
		t.Fatalf("y after SIGHUP: exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
}

func TestConfigDifferentFromServedExits78(t *testing.T) {
	t.Parallel()
	e := newEnv(t, reloadConfig, reloadScripts)
	up := e.start("up")
	served := up.stderr.waitFor(t, policyInForce, 30*time.Second)[1]

	other := filepath.Join(filepath.Dir(e.config), "other.yaml")
	if err := os.WriteFile(other, []byte(strings.ReplaceAll(tightenedConfig, "SCRIPTS", e.scripts)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run", "--", "app", "y"}, {"describe"}} {
		r := e.run(append([]string{"--config", other}, args...)...)
		if r.code != 78 {
			t.Fatalf("%v with another configuration: exit %d, want 78; stderr:\n%s", args, r.code, r.stderr)
		}
		for _, want := range []string{other, e.config, served, "SIGHUP", "drop --config"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: the error does not say %q:\n%s", args, want, r.stderr)
			}
		}
	}
	// $DEPLOYER_CONFIG is explicit too.
	e.extraEnv = []string{"DEPLOYER_CONFIG=" + other}
	if r := e.run(append(serverConfig, "run", "--", "app", "y")...); r.code != 78 {
		t.Fatalf("$DEPLOYER_CONFIG naming another configuration: exit %d, want 78; stderr:\n%s", r.code, r.stderr)
	}
	e.extraEnv = nil
	// Without one, the server's is used; a copy of it is fine.
	if r := e.run(append(serverConfig, "run", "--", "app", "x")...); r.code != 0 {
		t.Fatalf("run without --config: exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if r := e.run(append(serverConfig, "describe")...); r.code != 0 || !strings.Contains(r.stdout, "policy in force: "+served) || !strings.Contains(r.stdout, "x (timeout") {
		t.Fatalf("describe without --config: exit %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("run", "--", "app", "x"); r.code != 0 {
		t.Fatalf("run with the served file: exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
}
