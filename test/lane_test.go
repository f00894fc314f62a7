package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// laneConfig puts one container in a lane of limit 3. Its script
// "clocked FILE SLEEP" appends "start <ns>" to FILE, sleeps SLEEP seconds
// and appends "end <ns>": the script's own clock, not the pipeline's, says
// how many ran at once.
const laneConfig = `
lanes:
  three: {concurrency: 3}
containers:
  builds:
    local: {scripts_dir: SCRIPTS}
    lane: three
    timeout: 5m
    script_config:
      clocked:
        allow_positional_args: true
        allowed_options: []
`

var laneScripts = map[string]string{
	"clocked": "#!/bin/sh\necho \"start $(date +%s%N)\" >> \"$1\"\nsleep \"$2\"\necho \"end $(date +%s%N)\" >> \"$1\"\n",
}

// laneTrials is how many trials TestLaneLimitHoldsUnderParallelRuns runs,
// each on a fresh state directory: DEPLOYER_LANE_TRIALS, default 3 (CI);
// run it with DEPLOYER_LANE_TRIALS=20 (or -count=20) to measure.
func laneTrials(t *testing.T) int {
	s := os.Getenv("DEPLOYER_LANE_TRIALS")
	if s == "" {
		return 3
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("DEPLOYER_LANE_TRIALS=%q: want a positive number", s)
	}
	return n
}

// TestLaneLimitHoldsUnderParallelRuns starts 12 "deployer run"s at once on
// a fresh state directory with no "deployer up": the first to find it
// unserved starts a detached server, which the others share. The lane's
// limit of 3 must hold throughout, measured from the scripts' own start
// and end times, and every run must exit 0.
func TestLaneLimitHoldsUnderParallelRuns(t *testing.T) {
	t.Parallel()
	const runs, limit = 12, 3
	// Durations differ so that runs end, and stop serving, while other
	// scripts run.
	sleeps := []string{"0.2", "0.6", "0.4", "1"}
	trials := laneTrials(t)
	worst := 0
	for trial := range trials {
		e := newEnv(t, laneConfig, laneScripts)
		times := filepath.Join(t.TempDir(), "times")
		var wg sync.WaitGroup
		results := make([]result, runs)
		errs := make([]error, runs)
		for i := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = e.exec(3*time.Minute, "run", "--", "builds", "clocked", times, sleeps[i%len(sleeps)])
			}()
		}
		wg.Wait()
		for i := range runs {
			if errs[i] != nil {
				t.Fatalf("trial %d, run %d: %v", trial, i, errs[i])
			}
			if r := results[i]; r.code != 0 {
				t.Errorf("trial %d, run %d: exit code %d, want 0; stderr:\n%s", trial, i, r.code, r.stderr)
			}
		}
		most, starts, err := overlap(times)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if starts != runs {
			t.Errorf("trial %d: %d scripts started, want %d", trial, starts, runs)
		}
		if most > limit {
			t.Errorf("trial %d: %d scripts ran at once in a lane of limit %d", trial, most, limit)
		}
		worst = max(worst, most)
		t.Logf("trial %d: at most %d scripts at once", trial, most)
	}
	t.Logf("%d trials of %d parallel runs in a lane of limit %d: at most %d scripts at once", trials, runs, limit, worst)
}

// overlap reads a file of "start <ns>" and "end <ns>" lines and returns
// the most scripts running at once and how many started. An end at the
// same nanosecond as a start counts first.
func overlap(path string) (most, starts int, err error) {
	b, err := os.ReadFile(path) //nolint:gosec // the test's own temporary file
	if err != nil {
		return 0, 0, fmt.Errorf("reading the scripts' times: %w", err)
	}
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		kind, at, ok := strings.Cut(l, " ")
		ns, perr := strconv.ParseInt(at, 10, 64)
		if !ok || perr != nil || (kind != "start" && kind != "end") {
			return 0, 0, fmt.Errorf("bad line %q in the scripts' times", l)
		}
		d := 1
		if kind == "end" {
			d = -1
		} else {
			starts++
		}
		edges = append(edges, edge{ns, d})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if a.at != b.at {
			return int(min(max(a.at-b.at, -1), 1))
		}
		return a.delta - b.delta
	})
	n := 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most, starts, nil
}
