package test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestJobsListsAndStatusSaysWhyAJobWaits: behind a blocking job in a lane
// of limit 1, three more wait; "deployer jobs" lists them queued and the
// blocker running, newest first, and "deployer status" places each in
// line.
func TestJobsListsAndStatusSaysWhyAJobWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cancelConfig, cancelScripts)
	e.startUp(t)
	dir := t.TempDir()
	blocker, err := e.submit("ops", "sleepy", filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	readPid(t, filepath.Join(dir, "pid")) // it runs, holding the lane
	var waiting []string
	for i := range 3 {
		id, err := e.submit("ops", "record", filepath.Join(dir, fmt.Sprint("rec", i)))
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, id)
	}
	newestFirst := slices.Clone(waiting)
	slices.Reverse(newestFirst)

	type job struct {
		JobID, State, Container, Script, Lane string
		Argv                                  []string
		Submitted                             *time.Time
	}
	list := func(args ...string) []job {
		t.Helper()
		r := e.run(append([]string{"jobs", "--output", "json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("jobs %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var out []job
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		for dec.More() {
			var j struct {
				JobID     string     `json:"job_id"`
				State     string     `json:"state"`
				Container string     `json:"container"`
				Script    string     `json:"script"`
				Lane      string     `json:"lane"`
				Argv      []string   `json:"argv"`
				Submitted *time.Time `json:"submitted"`
			}
			if err := dec.Decode(&j); err != nil {
				t.Fatalf("jobs %v: %v in\n%s", args, err, r.stdout)
			}
			out = append(out, job{j.JobID, j.State, j.Container, j.Script, j.Lane, j.Argv, j.Submitted})
		}
		return out
	}
	ids := func(js []job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.JobID)
		}
		return out
	}
	// The gatekeeper journals each job's queued event on its own time:
	// there is no event to wait on here, so poll.
	poll(t, time.Minute, func() (bool, string) {
		got := list("--state", "queued")
		return slices.Equal(ids(got), newestFirst), fmt.Sprintf("queued jobs %v, want %v", ids(got), newestFirst)
	})
	if got := list("--state", "running"); !slices.Equal(ids(got), []string{blocker}) {
		t.Fatalf("running jobs %v, want the blocker %s", ids(got), blocker)
	}
	all := list("--state", "queued,running", "--container", "ops", "--lane", "one", "--since", "1h")
	if want := append(slices.Clone(newestFirst), blocker); !slices.Equal(ids(all), want) {
		t.Fatalf("jobs %v, want %v", ids(all), want)
	}
	if j := all[0]; j.Container != "ops" || j.Script != "record" || j.Lane != "one" || len(j.Argv) != 1 || j.Submitted == nil {
		t.Fatalf("job %+v", j)
	}
	if got := list("--state", "succeeded"); len(got) != 0 {
		t.Fatalf("succeeded jobs %v, want none", ids(got))
	}
	if got := list("--limit", "2"); !slices.Equal(ids(got), newestFirst[:2]) {
		t.Fatalf("jobs --limit 2: %v, want %v", ids(got), newestFirst[:2])
	}
	if r := e.run("jobs", "--state", "waiting"); r.code != 64 {
		t.Fatalf("jobs --state waiting: exit %d, want 64", r.code)
	}
	r := e.run("jobs")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 5 ||
		!strings.HasPrefix(lines[0], "JOB ID") || !strings.HasPrefix(lines[1], newestFirst[0]+"  queued") {
		t.Fatalf("jobs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for i, id := range waiting {
		r := e.run("status", id)
		want := fmt.Sprintf("lane one: 1 of 1 running, %s in line", []string{"1st", "2nd", "3rd"}[i])
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("status of the %d. waiting job: exit %d, want %q in\n%s%s", i+1, r.code, want, r.stdout, r.stderr)
		}
	}
	if r := e.run("status", blocker); strings.Contains(r.stdout, "waiting") {
		t.Fatalf("status of the running blocker says it waits:\n%s", r.stdout)
	}
}
