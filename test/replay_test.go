package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/replay"
)

// replayConfig allows two scripts that fail until a gate file exists,
// each appending its key to a runs file whenever it runs. POLICY is where
// the test tightens (and later fixes) the policy of "gated".
const replayConfig = `
containers:
  ops:
    local: {scripts_dir: SCRIPTS}
    script_config:
      flaky:
        allow_positional_args: true
      gated:
        allow_positional_args: true
POLICY`

var replayScripts = map[string]string{
	// runs-file gate-file key
	"flaky": "#!/bin/sh\necho \"flaky $3\" >> \"$1\"\n[ -e \"$2\" ] || exit 3\n",
	"gated": "#!/bin/sh\necho \"gated $3\" >> \"$1\"\n[ -e \"$2\" ] || exit 3\n",
}

// replayPolicy is replayConfig with policy (YAML lines) for the gated
// script.
func replayPolicy(policy string) string { return strings.ReplaceAll(replayConfig, "POLICY", policy) }

// restart stops "deployer up" (it drains) and serves again, so that the
// edited configuration is in force.
func (e *env) restart(t *testing.T, up *proc) *proc {
	t.Helper()
	_ = up.cmd.Process.Signal(syscall.SIGTERM)
	if code := up.wait(t, time.Minute); code != 0 {
		t.Logf("deployer up exited %d; stderr:\n%s", code, up.stderr.text())
	}
	up = e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)
	return up
}

// replayItems runs a replay with --output json and decodes its items.
func (e *env) replayItems(t *testing.T, wantCode int, args ...string) []replay.Item {
	t.Helper()
	r := e.run(append([]string{"dlq", "replay", "--output", "json"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("dlq replay %v: exit code %d, want %d; stderr:\n%s", args, r.code, wantCode, r.stderr)
	}
	var items []replay.Item
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var it replay.Item
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("dlq replay %v: line %q: %v", args, line, err)
		}
		items = append(items, it)
	}
	return items
}

// countRuns counts the lines of the runs file.
// waitReplays waits, with "deployer wait", for the job of every replay in
// items to end, and fails the test unless each succeeded.
func (e *env) waitReplays(t *testing.T, items []replay.Item) {
	t.Helper()
	for _, it := range items {
		if it.Verdict != replay.VerdictReplayed {
			continue
		}
		if r := e.run("wait", it.ReplayID); r.code != 0 {
			t.Fatalf("wait %s: exit code %d; stderr:\n%s", it.ReplayID, r.code, r.stderr)
		}
	}
}

func countRuns(t *testing.T, runs string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		n[l]++
	}
	return n
}

// TestDlqReplayDryRunAgreesAtBatchScale dead-letters 100 jobs (70 of a
// script the policy keeps allowing, 30 of one it then refuses), and
// checks that "dlq replay --dry-run" and the real replay with the same
// filter agree job by job; that the rejected keep their dead letters and
// say why; that asking again is answered truthfully without a second run;
// and that the rejected replay once the policy is fixed.
func TestDlqReplayDryRunAgreesAtBatchScale(t *testing.T) {
	t.Parallel()
	const flaky, gated = 70, 30
	e := newEnv(t, "", replayScripts)
	e.writeConfig(replayPolicy(""))
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)

	dir := t.TempDir()
	runs, gate := filepath.Join(dir, "runs"), filepath.Join(dir, "gate")
	keys := func(n int) string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprint(i))
		}
		return "[" + strings.Join(ks, ", ") + "]"
	}
	manifest := fmt.Sprintf(`name: hundred-failures
max_in_flight: 20
jobs:
  - container: ops
    script: flaky
    args: [%q, %q, "${{ matrix.n }}"]
    matrix: {n: %s}
  - container: ops
    script: gated
    args: [%q, %q, "${{ matrix.g }}"]
    matrix: {g: %s}
`, runs, gate, keys(flaky), runs, gate, keys(gated))
	start := time.Now()
	r := e.run("batch", "run", "-f", writeManifest(t, manifest))
	if r.code == 0 {
		t.Fatalf("a batch of failing jobs exited 0; stderr:\n%s", r.stderr)
	}
	l := e.dlqList(t)
	if len(l) != flaky+gated {
		t.Fatalf("%d dead letters, want %d; batch run exited %d, stderr:\n%s", len(l), flaky+gated, r.code, r.stderr)
	}
	t.Logf("100 jobs failed and dead-lettered in %s", time.Since(start).Round(time.Millisecond))

	// The scripts would now succeed, but the policy refuses gated.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(replayPolicy("        allowed_callers: [\"user:nobody-at-all\"]\n"))
	up = e.restart(t, up)

	start = time.Now()
	dry := e.replayItems(t, 0, "--dry-run", "--container", "ops")
	t.Logf("dry run of 100 dead letters took %s", time.Since(start).Round(time.Millisecond))
	if len(dry) != flaky+gated {
		t.Fatalf("dry run: %d items, want %d", len(dry), flaky+gated)
	}
	verdicts := map[string]replay.Item{}
	for _, it := range dry {
		want := replay.VerdictWouldReplay
		if it.Script == "gated" {
			want = replay.VerdictRejected
		}
		if it.Verdict != want || (want == replay.VerdictRejected && (it.ReasonCode != "caller_not_allowed" || it.Reason == "")) {
			t.Fatalf("dry run: %+v, want verdict %s", it, want)
		}
		verdicts[it.JobID] = it
	}
	if r := e.run("dlq", "replay", "--dry-run", "--container", "ops"); r.code != 0 ||
		!strings.Contains(r.stderr, "100 dead letters match: 70 would be replayed, 30 would be rejected") ||
		!strings.Contains(r.stdout, "would be rejected: caller_not_allowed") {
		t.Fatalf("dry run in text: exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// Off a terminal, more than one job needs --yes.
	if r := e.run("dlq", "replay", "--container", "ops"); r.code != 64 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("replay of many without --yes: exit code %d, stderr:\n%s", r.code, r.stderr)
	}

	start = time.Now()
	real := e.replayItems(t, 1, "--container", "ops", "--yes")
	t.Logf("replay of 100 dead letters (70 accepted) took %s", time.Since(start).Round(time.Millisecond))
	if len(real) != len(dry) {
		t.Fatalf("replay: %d items, dry run %d", len(real), len(dry))
	}
	for _, it := range real {
		d, ok := verdicts[it.JobID]
		switch {
		case !ok:
			t.Fatalf("replay of %s, which the dry run did not list", it.JobID)
		case d.Verdict == replay.VerdictWouldReplay && (it.Verdict != replay.VerdictReplayed || it.ReplayID != d.ReplayID):
			t.Errorf("job %s: dry run %s as %s, replay %s as %s (%s)", it.JobID, d.Verdict, d.ReplayID, it.Verdict, it.ReplayID, it.Reason)
		case d.Verdict == replay.VerdictRejected && (it.Verdict != replay.VerdictRejected || it.ReasonCode != d.ReasonCode || it.Reason != d.Reason):
			t.Errorf("job %s: dry run rejected (%s), replay %s (%s: %s)", it.JobID, d.Reason, it.Verdict, it.ReasonCode, it.Reason)
		}
	}
	// The rejected keep their dead letters; the replayed do not.
	left := e.dlqList(t)
	if len(left) != gated {
		t.Fatalf("%d dead letters left, want the %d rejected", len(left), gated)
	}
	for _, d := range left {
		if verdicts[d.JobID].Verdict != replay.VerdictRejected {
			t.Errorf("dead letter of %s left, whose replay the dry run accepted", d.JobID)
		}
	}

	// Wait for the replays to end; then ask again, by id.
	e.waitReplays(t, real)
	n := 0
	for k, c := range countRuns(t, runs) {
		if strings.HasPrefix(k, "flaky ") {
			n += c
		}
	}
	if n != 2*flaky {
		t.Fatalf("%d flaky runs after the replay, want %d", n, 2*flaky)
	}
	var ids []string
	for _, it := range real {
		if it.Verdict == replay.VerdictReplayed && len(ids) < 5 {
			ids = append(ids, it.JobID)
		}
	}
	for i := range 2 {
		again := e.replayItems(t, 0, append([]string{"--yes"}, ids...)...)
		for _, it := range again {
			if it.Verdict != replay.VerdictAlready || it.ReplayID != it.JobID+"-r1" || it.State != "succeeded" {
				t.Errorf("asking again (#%d): %+v, want already replayed as %s-r1 (succeeded)", i+1, it, it.JobID)
			}
		}
	}
	r = e.run("dlq", "replay", ids[0])
	if r.code != 0 || r.stdout != ids[0]+"-r1\n" || !strings.Contains(r.stderr, "already replayed as "+ids[0]+"-r1 (succeeded)") {
		t.Errorf("asking again in text: exit code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// And the rejected, asked again under the same policy, stay rejected.
	if again := e.replayItems(t, 1, "--script", "gated", "--yes"); len(again) != gated || again[0].Verdict != replay.VerdictRejected {
		t.Fatalf("rejected, asked again: %d items, first %+v", len(again), again[0])
	}

	// Fix the policy: the rejected now replay, once.
	e.writeConfig(replayPolicy(""))
	e.restart(t, up)
	fixed := e.replayItems(t, 0, "--container", "ops", "--script", "gated", "--yes")
	if len(fixed) != gated {
		t.Fatalf("after the fix: %d items, want %d", len(fixed), gated)
	}
	for _, it := range fixed {
		if it.Verdict != replay.VerdictReplayed {
			t.Errorf("after the fix: %+v", it)
		}
	}
	if l := e.dlqList(t); len(l) != 0 {
		t.Fatalf("dead letters left after the fix: %+v", l)
	}
	// Every replay has ended: each job ran twice (failed, then replayed
	// once), and no replay is left to run it again.
	e.waitReplays(t, fixed)
	if got := countRuns(t, runs); len(got) != flaky+gated {
		t.Fatalf("every job should have run twice (failed, then replayed once): %v", got)
	}
	for k, c := range countRuns(t, runs) {
		if c != 2 {
			t.Errorf("%s ran %d times, want 2", k, c)
		}
	}
}
