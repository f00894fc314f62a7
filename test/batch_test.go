package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchConfig puts the AMI builder in a lane of limit 3 and a quick
// container in the default lane. CONTAINER says where scripts run.
const batchConfig = `
lanes:
  ami: {concurrency: 3}
containers:
  ami-builder:
    CONTAINER
    lane: ami
    timeout: 5m
    script_config:
      clocked:
        allow_positional_args: true
        allowed_options: []
      fail: {allowed_options: []}
  quick:
    CONTAINER
    timeout: 5m
    script_config:
      hello:
        allow_positional_args: true
        allowed_options: []
`

var batchScripts = map[string]string{
	"clocked": laneScripts["clocked"],
	"fail":    "#!/bin/sh\necho 'failing on purpose'\nexit 42\n",
	"hello":   "#!/bin/sh\necho \"hello $*\"\n",
}

// matrixManifest is a 2 × 3 × 4 matrix of 24 clocked builds in lane ami,
// each writing its own start and end times to TIMES and sleeping SLEEP.
const matrixManifest = `name: nightly-amis
jobs:
  - container: ami-builder
    script: clocked
    args: [TIMES, "SLEEP", "${{ matrix.os }}-${{ matrix.region }}-${{ matrix.arch }}"]
    matrix:
      os: [al2023, ubuntu-24.04]
      region: [eu-west-1, us-east-1, ap-south-1]
      arch: [x86_64, arm64, graviton3, graviton4]
`

var batchSubmitted = regexp.MustCompile(`batch (batch-[0-9A-Z]{26}) submitted`)

func writeManifest(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "batch.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBatchOfTwentyFourHoldsTheLaneLimitEmbedded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(batchConfig, "CONTAINER", "local: {scripts_dir: SCRIPTS}"), batchScripts)
	batchHoldsTheLaneLimit(t, e)
}

func TestBatchOfTwentyFourHoldsTheLaneLimitAWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(batchConfig, "CONTAINER", "task_definition: deployer"), batchScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	batchHoldsTheLaneLimit(t, e)
}

// batchHoldsTheLaneLimit runs the 24 jobs of matrixManifest in a lane of
// limit 3, and a job of another lane while they run: never more than 3
// builds run at once (by the scripts' own clocks), the other lane's job
// ends while the batch still runs, and the batch ends with all 24
// succeeded and exit code 0.
func batchHoldsTheLaneLimit(t *testing.T, e *env) {
	times := filepath.Join(t.TempDir(), "times")
	m := strings.NewReplacer("TIMES", times, "SLEEP", "0.4").Replace(matrixManifest)
	b := e.start("batch", "run", "-f", writeManifest(t, m))
	b.stdout.waitFor(t, regexp.MustCompile(`^\[\s*\d+/24\] running`), 2*time.Minute)
	if r := e.run("run", "--", "quick", "hello", "from", "another", "lane"); r.code != 0 || !strings.Contains(r.stdout, "hello from another lane") {
		t.Fatalf("a job of another lane: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	select {
	case <-b.done:
		t.Errorf("the batch ended before a job of another lane did: that job waited for the batch")
	default:
	}
	if code := b.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("batch run: exit %d\nstdout:\n%s\nstderr:\n%s", code, b.stdout.text(), b.stderr.text())
	}
	if !strings.Contains(b.stderr.text(), "24 jobs: 24 succeeded") {
		t.Errorf("no summary of 24 successes:\n%s", b.stderr.text())
	}
	most, starts, err := overlap(times)
	if err != nil {
		t.Fatal(err)
	}
	if starts != 24 || most > 3 {
		t.Errorf("%d builds started, at most %d at once; want 24, at most 3", starts, most)
	}
	t.Logf("24 builds in a lane of limit 3: at most %d at once", most)
}

// With fail_fast, the first failure ends the rest: the job after it never
// starts, the summary names the failure, and the exit code is the failed
// task's.
func TestBatchFailFastExitCodeAndSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(batchConfig, "CONTAINER", "local: {scripts_dir: SCRIPTS}"), batchScripts)
	// One lane, so that the jobs start in the manifest's order (a lane
	// serves a batch's jobs in order; different lanes serve theirs side
	// by side).
	times := filepath.Join(t.TempDir(), "times")
	m := strings.ReplaceAll(`name: fail-fast
max_in_flight: 1
fail_fast: true
jobs:
  - {container: ami-builder, script: clocked, args: [TIMES, "0"], name: first}
  - {container: ami-builder, script: fail, name: breaks}
  - {container: ami-builder, script: clocked, args: [TIMES, "0"], name: never}
`, "TIMES", times)
	r := e.run("batch", "run", "-f", writeManifest(t, m))
	if r.code != 42 {
		t.Fatalf("exit %d, want the failed task's 42\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"3 jobs: 1 succeeded, 1 failed, 1 cancelled", "first failure: [2/3] failed", "breaks"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	if !regexp.MustCompile(`\[3/3\] cancelled .*fail_fast`).MatchString(r.stdout) {
		t.Errorf("the third job did not end cancelled by fail_fast:\n%s", r.stdout)
	}
	if _, starts, err := overlap(times); err != nil || starts != 1 {
		t.Errorf("%d clocked builds started (%v), want only the first", starts, err)
	}
}

// A batch outlives the command that submitted it: killed with SIGKILL
// while its jobs run, the batch still runs to its end, and "batch wait"
// re-attaches and exits with its code; "batch status" shows it all.
func TestBatchSurvivesItsCommandBeingKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(batchConfig, "CONTAINER", "local: {scripts_dir: SCRIPTS}"), batchScripts)
	times := filepath.Join(t.TempDir(), "times")
	var jobs strings.Builder
	for i := range 6 {
		fmt.Fprintf(&jobs, "  - {container: ami-builder, script: clocked, args: [%s, \"0.3\"], name: build-%d}\n", times, i)
	}
	b := e.start("batch", "run", "-f", writeManifest(t, "name: killed\nmax_in_flight: 2\njobs:\n"+jobs.String()))
	id := b.stderr.waitFor(t, batchSubmitted, time.Minute)[1]
	b.stdout.waitFor(t, regexp.MustCompile(`running`), time.Minute)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.wait(t, time.Minute)
	r := e.run("batch", "wait", id)
	if r.code != 0 || !strings.Contains(r.stderr, "6 jobs: 6 succeeded") {
		t.Fatalf("batch wait: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	most, starts, err := overlap(times)
	if err != nil || starts != 6 || most > 2 {
		t.Errorf("%d builds started, at most %d at once (%v); want 6, at most max_in_flight 2", starts, most, err)
	}
	st := e.run("batch", "status", id)
	if st.code != 0 || strings.Count(st.stdout, "succeeded") != 7 { // 6 jobs and the count line
		t.Errorf("batch status: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
}
