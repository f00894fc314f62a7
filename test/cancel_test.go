package test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

const cancelConfig = `
lanes:
  one: {concurrency: 1}
containers:
  ops:
    local: {scripts_dir: SCRIPTS}
    lane: one
    script_config:
      sleepy: {allow_positional_args: true}
      record: {allow_positional_args: true}
  bots-only:
    local: {scripts_dir: SCRIPTS}
    allowed_callers: ["user:ci-bot"]
    script_config:
      sleepy: {allow_positional_args: true}
`

var cancelScripts = map[string]string{
	// sleepy records its process group (its own pid: the runner makes
	// each script a group leader) and sleeps in a child.
	"sleepy": "#!/bin/sh\necho $$ > \"$1\"\necho ready\nsleep 300\necho woke\n",
	// record leaves a trace that it ran.
	"record": "#!/bin/sh\necho ran >> \"$1\"\necho recorded\n",
}

var jobQueued = regexp.MustCompile(`queued: waiting for a worker`)

// poll calls cond every 20ms until it reports true, failing the test
// with what it last said after d.
func poll(t testing.TB, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("after %s: %s", d, why)
		case <-tick.C:
		}
	}
}

// readPid waits for a script to write its pid to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	poll(t, 30*time.Second, func() (bool, string) {
		b, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0, "no pid in " + path
	})
	return pid
}

// waitGroupGone waits until no process of the group pgid is left.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	poll(t, 15*time.Second, func() (bool, string) {
		err := syscall.Kill(-pgid, 0)
		return errors.Is(err, syscall.ESRCH), "the cancelled task's process group " + strconv.Itoa(pgid) + " is still there"
	})
}

func TestCancelRunningJobExits130AndKillsTheTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cancelConfig, cancelScripts)
	pidFile := filepath.Join(t.TempDir(), "pid")
	// No "deployer up": run starts a detached server, and cancel, from
	// another process, talks to it through the state directory.
	run := e.start("run", "--", "ops", "sleepy", pidFile)
	id := run.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	run.stdout.waitFor(t, regexp.MustCompile(`^ready$`), 30*time.Second)
	pgid := readPid(t, pidFile)

	r := e.run("cancel", "--reason", "wrong ref", id)
	if r.code != 0 || !strings.Contains(r.stdout, "accepted") {
		t.Fatalf("cancel: exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if code := run.wait(t, time.Minute); code != 130 {
		t.Fatalf("run exited %d, want 130; stderr:\n%s", code, run.stderr.text())
	}
	if !strings.Contains(run.stderr.text(), "cancelled: requested by user:") || !strings.Contains(run.stderr.text(), "wrong ref") {
		t.Errorf("run's stderr does not say who cancelled and why:\n%s", run.stderr.text())
	}
	if strings.Contains(run.stdout.text(), "woke") {
		t.Errorf("the script ran to its end:\n%s", run.stdout.text())
	}
	waitGroupGone(t, pgid)

	// wait re-attaches to the cancelled job and exits as run did; a second
	// cancel is answered: the job has already ended.
	if r := e.run("wait", id); r.code != 130 {
		t.Errorf("wait: exit code %d, want 130; stderr:\n%s", r.code, r.stderr)
	}
	r = e.run("cancel", "--output", "json", id)
	if r.code != 77 || !strings.Contains(r.stdout, `"reason_code":"already_finished"`) || !strings.Contains(r.stdout, `"accepted":false`) {
		t.Errorf("cancel of a finished job: exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("cancel", producer.NewJobID())
	if r.code != 77 || !strings.Contains(r.stderr, "[unknown_job]") {
		t.Errorf("cancel of an unknown job: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"cancel"}, {"cancel", id, id}, {"cancel", "not-a-job"}, {"cancel", "--output", "yaml", id}} {
		if r := e.run(args...); r.code != 64 {
			t.Errorf("%v: exit code %d, want 64; stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

func TestCancelQueuedJobNeverStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cancelConfig, cancelScripts)
	e.serve(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "record")

	// The lane "one" runs one job at a time: the blocker holds it.
	blocker := e.start("run", "--", "ops", "sleepy", filepath.Join(dir, "pid"))
	blockerID := blocker.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	blocker.stdout.waitFor(t, regexp.MustCompile(`^ready$`), 30*time.Second)

	queued := e.start("run", "--", "ops", "record", record)
	queuedID := queued.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	queued.stderr.waitFor(t, jobQueued, 30*time.Second)
	waiter := e.start("wait", queuedID)

	if r := e.run("cancel", "--reason", "superseded", queuedID); r.code != 0 {
		t.Fatalf("cancel of the queued job: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	// Free the lane: cancel the blocker too (a job of a full lane, so the
	// cancel must reach it without a lane lease), and follow it to its end.
	r := e.run("cancel", "--wait", blockerID)
	if r.code != 130 || !strings.Contains(r.stderr, "cancelled: requested by") {
		t.Fatalf("cancel --wait of the blocker: exit code %d, want 130; stderr:\n%s", r.code, r.stderr)
	}
	if code := blocker.wait(t, time.Minute); code != 130 {
		t.Fatalf("blocker's run exited %d, want 130; stderr:\n%s", code, blocker.stderr.text())
	}
	if code := queued.wait(t, time.Minute); code != 130 {
		t.Fatalf("queued job's run exited %d, want 130; stderr:\n%s", code, queued.stderr.text())
	}
	if code := waiter.wait(t, time.Minute); code != 130 {
		t.Fatalf("wait of the queued job exited %d, want 130; stderr:\n%s", code, waiter.stderr.text())
	}
	if !strings.Contains(queued.stderr.text(), "never started") {
		t.Errorf("the queued job's end does not say it never started:\n%s", queued.stderr.text())
	}
	if strings.Contains(queued.stderr.text(), "started task") {
		t.Errorf("the cancelled queued job started a task:\n%s", queued.stderr.text())
	}
	// The lane is free again; a job run now proves the queue moved on
	// (and that the cancelled one would have run by now if it could).
	if r := e.run("run", "--", "ops", "record", filepath.Join(dir, "other")); r.code != 0 {
		t.Fatalf("a job after the cancels: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(record); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cancelled queued job's script ran: record file holds %q (%v)", b, err)
	}
}

func TestCancelByAnotherCallerIsRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cancelConfig, cancelScripts)
	e.serve(t)
	ctx, done := context.WithTimeout(context.Background(), 2*time.Minute)
	defer done()
	// ci-bot submits through the queue with its own verified identity.
	bot, err := embedded.Open(ctx, e.state, embedded.Options{Sender: "user:ci-bot"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bot.Close() }()
	client := bot.Client()
	pidFile := filepath.Join(t.TempDir(), "pid")
	job, err := client.Submit(ctx, producer.Request{Container: "bots-only", Script: "sleepy", Args: []string{pidFile}})
	if err != nil {
		t.Fatal(err)
	}
	pgid := readPid(t, pidFile) // it runs

	// This process's user neither submitted the job nor may run
	// bots-only/sleepy.
	r := e.run("cancel", job.ID)
	if r.code != 77 || !strings.Contains(r.stderr, "[caller_not_allowed]") {
		t.Fatalf("cancel by another caller: exit code %d, want 77\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if syscall.Kill(-pgid, 0) != nil {
		t.Fatal("a rejected cancel stopped the task")
	}

	// Its requester may.
	ans, err := client.Cancel(ctx, job.ID, producer.CancelOptions{Reason: "done testing"})
	if err != nil || !ans.Accepted {
		t.Fatalf("cancel by the requester: %+v, %v", ans, err)
	}
	res, err := client.Follow(ctx, job, producer.FollowOptions{})
	if err != nil || res.Terminal.Type != schemas.EventCancelled || producer.ExitCode(res.Terminal) != 130 {
		t.Fatalf("the job ended %+v (%v), want cancelled", res.Terminal, err)
	}
	waitGroupGone(t, pgid)
}
