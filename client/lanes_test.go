package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// TestLanesAndTaskLog: the configuration's lanes come with their limits
// and what runs in them, and a job's task log reads page by page after a
// seq, as a tail reads it.
func TestLanesAndTaskLog(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	pol, err := policy.Load(r.config, policy.WithLocalBackend())
	if err != nil {
		t.Fatal(err)
	}
	lanes, err := r.c.Lanes(ctx, pol.Config())
	if err != nil {
		t.Fatal(err)
	}
	if want := []client.Lane{{Name: "default", Limit: 4, Running: 0}}; len(lanes) != 1 || lanes[0] != want[0] {
		t.Errorf("lanes %+v, want %+v", lanes, want)
	}

	r.serve()
	job, res, _ := r.run(ctx, "hello", "tail")
	if res.ExitCode() != 0 {
		t.Fatalf("exit %d", res.ExitCode())
	}
	history, err := r.c.History(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	task := ""
	for _, ev := range history {
		if ev.Type == schemas.EventStarted {
			task = ev.TaskID
		}
	}
	if task == "" {
		t.Fatalf("history %+v: no started event naming a task", history)
	}
	lines, err := r.c.TaskLog(ctx, task, 0, 100)
	if err != nil || len(lines) == 0 || lines[0].Text != "hello, tail" {
		t.Fatalf("task log: %+v, %v; want \"hello, tail\" first", lines, err)
	}
	after, err := r.c.TaskLog(ctx, task, lines[0].Seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range after {
		if l.Text != "" || l.Seq <= lines[0].Seq {
			t.Errorf("after seq %d: %+v, want at most the log's end", lines[0].Seq, l)
		}
	}
	if none, err := r.c.TaskLog(ctx, "no-such-task", 0, 100); err != nil || len(none) != 0 {
		t.Errorf("a task that logged nothing: %+v, %v; want no lines and no error", none, err)
	}
}

// TestScheduleState: a schedule's state is read, paused and resumed on
// the embedded backend, read (not changed) through a read-only client.
func TestScheduleState(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	st, err := r.c.ScheduleState(ctx, "nightly")
	if err != nil || st.Paused || st.Failures != 0 || st.Last != nil {
		t.Fatalf("a schedule never seen: %+v, %v; want the zero state", st, err)
	}
	if err := r.c.PauseSchedule(ctx, "nightly", "maintenance"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.c.ScheduleState(ctx, "nightly"); err != nil || !st.Paused || st.PauseReason != "maintenance" || st.PausedAt.IsZero() {
		t.Fatalf("after the pause: %+v, %v", st, err)
	}

	ro, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: r.dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	if st, err := ro.ScheduleState(ctx, "nightly"); err != nil || !st.Paused {
		t.Errorf("read-only: %+v, %v; want it paused", st, err)
	}
	if err := ro.ResumeSchedule(ctx, "nightly"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("resuming through a read-only client: %v, want a refusal saying read-only", err)
	}

	if err := r.c.ResumeSchedule(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.c.ScheduleState(ctx, "nightly"); err != nil || st.Paused || st.PauseReason != "" {
		t.Fatalf("after the resume: %+v, %v", st, err)
	}
	if errors.Is(err, client.ErrNotSupported) {
		t.Error("the embedded backend said schedules are not supported")
	}
}
