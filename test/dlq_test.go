package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

const dlqConfig = `
containers:
  ops:
    local: {scripts_dir: SCRIPTS}
    script_config:
      flaky:
        allow_positional_args: true
      append:
        allow_positional_args: true
`

var dlqScripts = map[string]string{
	"flaky": "#!/bin/sh\necho \"flaky says $1\"\nexit 3\n",
	// append fails until its gate file exists, then appends one line.
	"append": "#!/bin/sh\n[ -e \"$2\" ] || { echo \"no gate\"; exit 3; }\necho ran >> \"$1\"\necho appended\n",
}

// dlqEntry is one line of "dlq list --output json".
type dlqEntry struct {
	JobID      string `json:"job_id"`
	Queue      string `json:"queue"`
	Container  string `json:"container"`
	Script     string `json:"script"`
	ReasonCode string `json:"reason_code"`
	ExitCode   *int   `json:"exit_code"`
	Count      int    `json:"count"`
	Replayable bool   `json:"replayable"`
}

func (e *env) dlqList(t *testing.T) []dlqEntry {
	t.Helper()
	r := e.run("dlq", "list", "--output", "json")
	if r.code != 0 {
		t.Fatalf("dlq list: exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	var out []dlqEntry
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var d dlqEntry
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("dlq list line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// serve starts "deployer up" on the setup and waits until it serves.
// The tests run their jobs against one "up" rather than the pipeline a
// command serves itself while it follows a job: such a command can hang on
// exit when its worker's drain hands back a job whose finish is still
// settling it (worker.forget runs twice and blocks on the slot semaphore),
// a worker race these tests are not about.
func (e *env) serve(t *testing.T) {
	t.Helper()
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)
}

// deadLetter runs a job that fails and returns its id.
func (e *env) deadLetter(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(append([]string{"run", "--"}, args...)...)
	if r.code != 3 {
		t.Fatalf("run %v: exit code %d, want 3; stderr:\n%s", args, r.code, r.stderr)
	}
	m := jobSubmitted.FindStringSubmatch(r.stderr)
	if m == nil || !strings.Contains(r.stderr, "dead-letter") {
		t.Fatalf("run %v: no job id or no dead letter in stderr:\n%s", args, r.stderr)
	}
	return m[1]
}

func TestDlqListShowReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dlqConfig, dlqScripts)
	e.serve(t)
	id := e.deadLetter(t, "ops", "flaky", "hello")

	// Listing consumes nothing: twice in a row, it is there.
	for i := range 2 {
		r := e.run("dlq", "list")
		if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "task_failed") || !strings.Contains(r.stdout, "ops flaky") {
			t.Fatalf("dlq list #%d: exit code %d\nstdout:\n%s\nstderr:\n%s", i+1, r.code, r.stdout, r.stderr)
		}
	}
	if l := e.dlqList(t); len(l) != 1 || l[0].JobID != id || l[0].Queue != "run" || !l[0].Replayable ||
		l[0].ExitCode == nil || *l[0].ExitCode != 3 || l[0].Count != 1 {
		t.Fatalf("dlq list --output json = %+v", l)
	}

	r := e.run("dlq", "show", id)
	if r.code != 0 {
		t.Fatalf("dlq show: exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	var dl schemas.DeadLetter
	if err := json.Unmarshal([]byte(r.stdout), &dl); err != nil {
		t.Fatalf("dlq show is not JSON: %v\n%s", err, r.stdout)
	}
	if dl.JobID != id || dl.Failure.ExitCode == nil || *dl.Failure.ExitCode != 3 || dl.Request == nil ||
		dl.Request.Script != "flaky" || dl.Order == nil || dl.Failure.ReasonCode != "task_failed" {
		t.Fatalf("dlq show = %s", r.stdout)
	}

	// Fix the script, replay and follow.
	if err := os.WriteFile(filepath.Join(e.scripts, "flaky"), []byte("#!/bin/sh\necho \"fixed says $1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = e.run("dlq", "replay", id, "--wait")
	if r.code != 0 {
		t.Fatalf("dlq replay --wait: exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "fixed says hello\n" {
		t.Errorf("dlq replay --wait stdout = %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "replayed as "+id+"-r1") {
		t.Errorf("dlq replay --wait stderr does not name the new job:\n%s", r.stderr)
	}
	if l := e.dlqList(t); len(l) != 0 {
		t.Fatalf("dead letters left after the replay: %+v", l)
	}
	if r := e.run("dlq", "show", id); r.code != 66 || !strings.Contains(r.stderr, "no dead letter for job "+id) {
		t.Errorf("dlq show of a replayed job: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	// Replaying it again names the replay that exists and starts nothing.
	if r := e.run("dlq", "replay", id); r.code != 0 || r.stdout != id+"-r1\n" || !strings.Contains(r.stderr, "already") {
		t.Errorf("second replay: exit code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("status", id+"-r1"); r.code != 0 || !strings.Contains(r.stdout+r.stderr, id) {
		t.Logf("status of the replay:\n%s%s", r.stdout, r.stderr)
	}
}

// replayTwiceAtOnce dead-letters a job of the "ops" container's "append"
// script, races two "deployer dlq replay"s of it, and checks that both
// name one replay job whose task ran once, and that no dead letter is
// left.
func (e *env) replayTwiceAtOnce(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	out, gate := filepath.Join(dir, "out"), filepath.Join(dir, "gate")
	id := e.deadLetter(t, "ops", "append", out, gate)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	a, b := e.start("dlq", "replay", id), e.start("dlq", "replay", id)
	for i, p := range []*proc{a, b} {
		if code := p.wait(t, time.Minute); code != 0 {
			t.Fatalf("replay %d: exit code %d; stderr:\n%s", i, code, p.stderr.text())
		}
		if got := p.stdout.text(); got != id+"-r1" {
			t.Fatalf("replay %d printed %q, want %q; stderr:\n%s", i, got, id+"-r1", p.stderr.text())
		}
	}
	r := e.run("wait", id+"-r1")
	if r.code != 0 || r.stdout != "appended\n" {
		t.Fatalf("wait %s-r1: exit code %d, stdout %q; stderr:\n%s", id, r.code, r.stdout, r.stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "ran\n" {
		t.Fatalf("the replayed script ran %d times:\n%s", strings.Count(string(got), "ran"), got)
	}
	if l := e.dlqList(t); len(l) != 0 {
		t.Fatalf("dead letters left after the replays: %+v", l)
	}
}

func TestDlqConcurrentReplaysStartOneTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dlqConfig, dlqScripts)
	e.serve(t)

	e.replayTwiceAtOnce(t)
}

func TestDlqPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dlqConfig, dlqScripts)
	e.serve(t)
	first := e.deadLetter(t, "ops", "flaky", "one")
	second := e.deadLetter(t, "ops", "flaky", "two")

	if r := e.run("dlq", "purge"); r.code != 64 {
		t.Errorf("purge without --older-than: exit code %d, want 64", r.code)
	}
	r := e.run("dlq", "purge", "--older-than", "1h")
	if r.code != 0 || r.stdout != "purged 0 dead letters\n" {
		t.Fatalf("purge --older-than 1h: exit code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if l := e.dlqList(t); len(l) != 2 || l[0].JobID != first || l[1].JobID != second {
		t.Fatalf("after purging nothing: %+v", l)
	}
	r = e.run("dlq", "purge", "--older-than", "1ms")
	if r.code != 0 || r.stdout != "purged 2 dead letters\n" {
		t.Fatalf("purge --older-than 1ms: exit code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if l := e.dlqList(t); len(l) != 0 {
		t.Fatalf("after purging: %+v", l)
	}
}

func TestDlqUnreadableRequestsAreListedNotReplayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dlqConfig, dlqScripts)
	ctx := context.Background()
	b, err := embedded.Open(ctx, e.state, embedded.Options{Sender: "user:test"})
	if err != nil {
		t.Fatal(err)
	}
	requests, _ := b.DeadLetterQueues()
	id := producer.NewJobID()
	body, err := schemas.DeadLetter{JobID: id, Raw: `{"job_id":"` + id + `","container":`, Failure: schemas.Failure{
		Outcome: schemas.OutcomeRejected, Reason: "unexpected end of JSON input", ReasonCode: "malformed_request",
		Attempts: 1, Time: time.Now().UTC(),
	}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := requests.Send(ctx, queue.Outgoing{Body: body}, queue.Outgoing{Body: []byte("not a dead letter")}); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()

	l := e.dlqList(t)
	if len(l) != 2 {
		t.Fatalf("dlq list = %+v", l)
	}
	codes := map[string]bool{}
	for _, d := range l {
		codes[d.ReasonCode] = true
		if d.Replayable || d.Queue != "request" {
			t.Errorf("entry %+v", d)
		}
	}
	if !codes["malformed_request"] || !codes["undecodable_dead_letter"] {
		t.Errorf("reason codes %v", codes)
	}
	r := e.run("dlq", "replay", id)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be replayed") {
		t.Fatalf("replay of an unreadable request: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := e.run("dlq", "replay", "--all"); r.code != 1 || !strings.Contains(r.stderr, "cannot be replayed") || r.stdout != "" {
		t.Fatalf("replay --all: exit code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if l := e.dlqList(t); len(l) != 2 {
		t.Fatalf("dead letters after failed replays: %+v", l)
	}
	for _, args := range [][]string{
		{"dlq", "replay"}, {"dlq", "replay", "--all", id}, {"dlq", "replay", id, "--filter", "script=x"},
		{"dlq", "replay", "--all", "--filter", "colour=red"}, {"dlq", "show", "not-an-id"}, {"dlq", "list", "--queue", "x"},
		{"dlq", "show"}, {"dlq"},
	} {
		if r := e.run(args...); r.code != 64 {
			t.Errorf("%v: exit code %d, want 64; stderr:\n%s", args, r.code, r.stderr)
		}
	}
	if r := e.run("dlq", "show", producer.NewJobID()); r.code != 66 || !strings.Contains(r.stderr, "no dead letter") {
		t.Errorf("show of an unknown job: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
}
