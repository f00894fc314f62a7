package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/schedule"
	"github.com/deployerhq/deployer/internal/schedule/cronspec"
	"github.com/deployerhq/deployer/internal/sqlitedb"
)

// schedulesConfig has three schedules due every 2 seconds (the seconds
// field exists only with cronspec.SecondsEnv set, for this test).
const schedulesConfig = `
containers:
  ticker:
    local: {scripts_dir: SCRIPTS}
    allowed_callers: ["schedule:tick"]
    script_config:
      record: {allow_positional_args: true}
  slow:
    local: {scripts_dir: SCRIPTS}
    allowed_callers: ["schedule:*"]
    script_config:
      hold: {allow_positional_args: true}
  flaky:
    local: {scripts_dir: SCRIPTS}
    allowed_callers: ["schedule:flaky"]
    script_config:
      fail: {}
schedules:
  tick:
    cron: "*/2 * * * * *"
    container: ticker
    script: record
    args: [SCRIPTS/ticks]
    overlap: allow
  slow:
    cron: "*/2 * * * * *"
    time_zone: Europe/Berlin
    container: slow
    script: hold
    args: [SCRIPTS/release]
    overlap: skip
  flaky:
    cron: "*/2 * * * * *"
    container: flaky
    script: fail
    overlap: allow
    pause_after_failures: 2
`

var schedulesScripts = map[string]string{
	"record": "#!/bin/sh\necho ran >> \"$1\"\n",
	// hold runs until the test creates its file.
	"hold": "#!/bin/sh\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho released\n",
	"fail": "#!/bin/sh\necho failing\nexit 3\n",
}

type scheduledJob struct {
	JobID     string `json:"job_id"`
	State     string `json:"state"`
	Principal string `json:"principal"`
}

func (e *env) jobsOf(t *testing.T, container string) []scheduledJob {
	t.Helper()
	r := e.run("jobs", "--output", "json", "--container", container, "--limit", "1000")
	if r.code != 0 {
		t.Fatalf("jobs: exit %d\n%s", r.code, r.stderr)
	}
	var out []scheduledJob
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var j scheduledJob
		if err := dec.Decode(&j); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

type listedSchedule struct {
	Name     string `json:"name"`
	Paused   *bool  `json:"paused"`
	Failures *int   `json:"failures"`
	Next     []time.Time
	LastRun  *struct {
		JobID string `json:"job_id"`
		State string `json:"state"`
	} `json:"last_run"`
}

func (e *env) schedules(t *testing.T) map[string]listedSchedule {
	t.Helper()
	r := e.run("schedules", "--output", "json")
	if r.code != 0 {
		t.Fatalf("schedules: exit %d\n%s", r.code, r.stderr)
	}
	out := map[string]listedSchedule{}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var s listedSchedule
		if err := dec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		out[s.Name] = s
	}
	return out
}

// TestSchedulesAcrossTwoUps: two "deployer up"s serve one state directory
// with schedules due every 2 seconds. Every due time of a schedule is
// sent once, as the schedule's caller; a skip schedule sends nothing while
// its job runs; a schedule whose jobs fail pauses after 2 and resumes by
// command.
func TestSchedulesAcrossTwoUps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, schedulesConfig, schedulesScripts)
	e.extraEnv = append(e.extraEnv, cronspec.SecondsEnv+"=1")
	e.startUp(t)
	e.startUp(t)

	db, err := sqlitedb.Open(e.state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := schedule.OpenStore(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	fires := func(name string) []schedule.Fire {
		t.Helper()
		fs, err := store.Fires(context.Background(), name, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	sent := func(fs []schedule.Fire, status string) []schedule.Fire {
		var out []schedule.Fire
		for _, f := range fs {
			if f.Status == status {
				out = append(out, f)
			}
		}
		return out
	}

	// Exactly once per due time across both: as many jobs as due times,
	// every one of them sent as schedule:tick and run.
	poll(t, time.Minute, func() (bool, string) {
		n := len(sent(fires("tick"), schedule.StatusSubmitted))
		return n >= 4, fmt.Sprintf("%d tick fires", n)
	})
	// Pause tick so that its count stops moving, then compare.
	if r := e.run("schedules", "pause", "tick"); r.code != 0 {
		t.Fatalf("pause: exit %d\n%s", r.code, r.stderr)
	}
	var tickFires []schedule.Fire
	poll(t, time.Minute, func() (bool, string) {
		tickFires = fires("tick")
		jobs := e.jobsOf(t, "ticker")
		ended := 0
		for _, j := range jobs {
			if j.State == "succeeded" {
				ended++
			}
		}
		return len(jobs) == len(tickFires) && ended == len(jobs),
			fmt.Sprintf("%d tick fires, %d jobs in the journal (%d succeeded)", len(tickFires), len(jobs), ended)
	})
	holders := map[string]bool{}
	for i, f := range tickFires {
		holders[f.Holder] = true
		if f.Status != schedule.StatusSubmitted {
			t.Errorf("tick fire %s: %s %s", f.Due, f.Status, f.Error)
		}
		if i > 0 && tickFires[i-1].Due.Sub(f.Due) != 2*time.Second {
			t.Errorf("tick due times %s and %s are not 2s apart: a due time was dropped", f.Due, tickFires[i-1].Due)
		}
	}
	for _, j := range e.jobsOf(t, "ticker") {
		if j.Principal != "schedule:tick" {
			t.Errorf("job %s ran as %q, want schedule:tick", j.JobID, j.Principal)
		}
	}
	t.Logf("%d tick fires by %d schedulers", len(tickFires), len(holders))

	// Overlap skip: one slow job runs; later due times are skipped.
	poll(t, time.Minute, func() (bool, string) {
		fs := fires("slow")
		return len(sent(fs, schedule.StatusSkipped)) >= 2, fmt.Sprintf("slow fires %+v", fs)
	})
	if n := len(e.jobsOf(t, "slow")); n != 1 {
		t.Fatalf("skip ran %d slow jobs at once, want 1", n)
	}
	if err := os.WriteFile(filepath.Join(e.scripts, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, func() (bool, string) {
		n := len(e.jobsOf(t, "slow"))
		return n >= 2, fmt.Sprintf("%d slow jobs after the first ended", n)
	})

	// Pause after 2 failures, shown by "deployer schedules".
	poll(t, time.Minute, func() (bool, string) {
		s := e.schedules(t)["flaky"]
		return s.Paused != nil && *s.Paused && *s.Failures == 2, fmt.Sprintf("flaky: %+v", s)
	})
	if n := len(e.jobsOf(t, "flaky")); n != 2 {
		t.Errorf("flaky ran %d jobs before pausing, want 2", n)
	}
	r := e.run("schedules")
	if !strings.Contains(r.stdout, "2/2") || !strings.Contains(r.stdout, "yes (2 consecutive jobs did not succeed") {
		t.Errorf("schedules (text) does not show the pause:\n%s", r.stdout)
	}
	if r := e.run("schedules", "resume", "flaky"); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	s := e.schedules(t)["flaky"]
	if *s.Paused || *s.Failures != 0 || len(s.Next) != 3 {
		t.Errorf("after resume: %+v", s)
	}
	if r := e.run("schedules", "pause", "nope"); r.code != 64 {
		t.Errorf("pause of an unknown schedule: exit %d, want 64", r.code)
	}
}
