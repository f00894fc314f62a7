package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// faultConfig is the configuration of the fault tests: one container whose
// scripts record each run in a file, in a lane wide enough for two ups.
const faultConfig = `
lanes:
  default: {concurrency: 16}
containers:
  faults:
    local: {scripts_dir: SCRIPTS}
    timeout: 5m
    script_config:
      record:
        allow_positional_args: true
        allowed_options: []
      gated:
        allow_positional_args: true
        allowed_options: []
`

// faultScripts: "record FILE TOKEN CODE SLEEP" appends "TOKEN start" to
// FILE, sleeps SLEEP seconds, appends "TOKEN end" and exits with CODE.
// Each line is one small write to a file opened with O_APPEND, so lines of
// concurrent runs never interleave. "gated FILE GATE" appends "run" to
// FILE, waits for GATE to exist and exits 7.
var faultScripts = map[string]string{
	"record": "#!/bin/sh\necho \"$2 start\" >> \"$1\"\nsleep \"$4\"\necho \"$2 end\" >> \"$1\"\nexit \"$3\"\n",
	"gated":  "#!/bin/sh\necho run >> \"$1\"\nwhile [ ! -e \"$2\" ]; do sleep 0.05; done\nexit 7\n",
}

// faultCodes are the exit codes the record jobs are given, by job index
// modulo its length: mostly 0, a few failures; none of deployer's own codes.
var faultCodes = []int{0, 0, 3, 0, 0, 1, 0, 0, 42, 0, 0, 2}

// faultSleeps are the record jobs' durations, by job index modulo its length.
var faultSleeps = []string{"0.05", "0.1", "0.2", "0.3"}

// exec runs deployer to completion without failing the test, so that it
// can be called from any goroutine. The error is only for a command that
// could not be run or did not finish within d.
func (e *env) exec(d time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := e.cmd(ctx, args...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("deployer %v did not finish within %s; stderr:\n%s", args, d, r.stderr)
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		return r, fmt.Errorf("deployer %v: %w", args, err)
	}
	return r, nil
}

// submit queues a job with "run --no-wait" and returns its id.
func (e *env) submit(args ...string) (string, error) {
	r, err := e.exec(time.Minute, append([]string{"run", "--no-wait", "--"}, args...)...)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]
	if r.code != 0 || !jobSubmitted.MatchString("job "+id+" submitted") {
		return "", fmt.Errorf("run --no-wait %v: exit %d, stdout %q, stderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return id, nil
}

// startUp starts a "deployer up" and waits until it serves.
func (e *env) startUp(t testing.TB, args ...string) *proc {
	t.Helper()
	p := e.start(append([]string{"up"}, args...)...)
	p.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)
	return p
}

// statusJSON is the job's events, for failure reports.
func (e *env) statusJSON(id string) string {
	r, err := e.exec(30*time.Second, "status", id, "--output", "json")
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
}

// history is the job's events as "status --output json" gives them.
func (e *env) history(id string) ([]schemas.JobEvent, error) {
	r, err := e.exec(30*time.Second, "status", id, "--output", "json")
	if err != nil {
		return nil, err
	}
	if r.code != 0 {
		return nil, fmt.Errorf("status %s: exit %d; stderr:\n%s", id, r.code, r.stderr)
	}
	var evs []schemas.JobEvent
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		ev, err := schemas.DecodeJobEvent([]byte(l))
		if err != nil {
			return nil, fmt.Errorf("status %s: line %q: %w", id, l, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// checkHistories checks that each job's terminal event is "finished"
// with the job's exit code. (The journal keeps one event per worker event
// id, so a duplicate from a second worker would not show here; the record
// file and the workers' logs tell those.)
func checkHistories(t *testing.T, e *env, ids []string) {
	t.Helper()
	problems := make([]string, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				evs, err := e.history(ids[i])
				if err != nil {
					problems[i] = err.Error()
					continue
				}
				want := faultCodes[i%len(faultCodes)]
				terminal := 0
				for _, ev := range evs {
					if !ev.Type.Terminal() {
						continue
					}
					terminal++
					if ev.Type != schemas.EventFinished || ev.ExitCode == nil || *ev.ExitCode != want {
						problems[i] = fmt.Sprintf("terminal event %s (exit code %v), want finished with %d", ev.Type, ev.ExitCode, want)
					}
				}
				if terminal == 0 {
					problems[i] = "no terminal event"
				}
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, p := range problems {
		if p != "" {
			t.Errorf("job %d (%s): %s\nevents:\n%s", i, ids[i], p, e.statusJSON(ids[i]))
		}
	}
}

var (
	logTaskStarted = regexp.MustCompile(`"msg":"task started".*"job_id":"([^"]+)"`)
	logJobFinished = regexp.MustCompile(`"msg":"job finished".*"job_id":"([^"]+)"`)
)

// upLines are the lines of the ups' logs that mention s, each prefixed
// with the up's pid.
func upLines(ups []*proc, s string) string {
	var out []string
	for _, u := range ups {
		for _, l := range strings.Split(u.stderr.text(), "\n") {
			if strings.Contains(l, s) {
				out = append(out, fmt.Sprintf("up %d: %s", u.cmd.Process.Pid, l))
			}
		}
	}
	return strings.Join(out, "\n")
}

// workerCounts reads the logs of ups run with --verbose: for each job, how
// many of them started (or adopted) its task and how many finished it.
func workerCounts(ups []*proc) (started, finished map[string]int) {
	started, finished = map[string]int{}, map[string]int{}
	for _, u := range ups {
		<-u.done
		s, f := map[string]bool{}, map[string]bool{}
		for _, l := range strings.Split(u.stderr.text(), "\n") {
			if m := logTaskStarted.FindStringSubmatch(l); m != nil {
				s[m[1]] = true
			}
			if m := logJobFinished.FindStringSubmatch(l); m != nil {
				f[m[1]] = true
			}
		}
		for id := range s {
			started[id]++
		}
		for id := range f {
			finished[id]++
		}
	}
	return started, finished
}

// upPool is the pipelines of a kill test: it starts them, kills one at
// random when asked, replaces it, and remembers every one it started.
type upPool struct {
	e     *env
	args  []string
	begin time.Time
	ups   []*proc // serving now
	all   []*proc // every one started, killed or not
	log   []string
	// kills counts SIGKILLs, midTask those that found scripts running.
	kills, midTask int
}

func startUpPool(t *testing.T, e *env, n int, begin time.Time, args ...string) *upPool {
	t.Helper()
	p := &upPool{e: e, args: args, begin: begin}
	for range n {
		p.ups = append(p.ups, e.startUp(t, args...))
	}
	p.all = append(p.all, p.ups...)
	return p
}

// killOne SIGKILLs a serving pipeline chosen by rng and starts another in
// its place, noting from the scripts' record whether scripts were running.
func (p *upPool) killOne(t *testing.T, rng *rand.Rand, record string) {
	t.Helper()
	k := rng.Intn(len(p.ups))
	victim := p.ups[k]
	starts, ends, _ := recordCounts(t, record)
	if len(starts) > len(ends) {
		p.midTask++
	}
	line := fmt.Sprintf("%s (%6.2fs): SIGKILL up pid %d (scripts started %d, ended %d)",
		time.Now().UTC().Format("15:04:05.000"), time.Since(p.begin).Seconds(), victim.cmd.Process.Pid, len(starts), len(ends))
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	victim.wait(t, 10*time.Second)
	p.kills++
	p.ups[k] = p.e.startUp(t, p.args...)
	p.all = append(p.all, p.ups[k])
	p.log = append(p.log, line+fmt.Sprintf("; replaced by pid %d", p.ups[k].cmd.Process.Pid))
}

// stop kills the pipelines still serving.
func (p *upPool) stop() {
	for _, u := range p.ups {
		_ = u.cmd.Process.Kill()
	}
}

// adoptions reads every pipeline's log once they have all exited: how
// many of ids were started (or found) by more than one, and which were
// finished by more than one.
func (p *upPool) adoptions(ids []string) (adopted int, finishedTwice []string) {
	started, finished := workerCounts(p.all)
	for _, id := range ids {
		if started[id] > 1 {
			adopted++
		}
		if finished[id] > 1 {
			finishedTwice = append(finishedTwice, id)
		}
	}
	return adopted, finishedTwice
}

// problems are the warnings and errors every pipeline logged.
func (p *upPool) problems() string {
	return upLines(p.all, `"level":"WARN"`) + "\n" + upLines(p.all, `"level":"ERROR"`)
}

// waitAll runs "deployer wait" for every job, par at a time, and returns
// the results by job index.
func (e *env) waitAll(ids []string, par int, d time.Duration) ([]result, []error) {
	results := make([]result, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = e.exec(d, "wait", ids[i])
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errs
}

// recordCounts reads a record file: how many "TOKEN start" and "TOKEN end"
// lines each token has, and any line of another shape.
func recordCounts(t *testing.T, path string) (starts, ends map[string]int, bad []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	starts, ends = map[string]int{}, map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		switch tok, what, _ := strings.Cut(l, " "); what {
		case "start":
			starts[tok]++
		case "end":
			ends[tok]++
		default:
			if l != "" {
				bad = append(bad, l)
			}
		}
	}
	return starts, ends, bad
}

// checkRecords checks that job i of ids ran exactly once (one start and one
// end of token "tok-<i>" in the record file) and ended with faultCodes.
func checkRecords(t *testing.T, e *env, record string, ids []string, results []result, errs []error) (failed int) {
	t.Helper()
	starts, ends, bad := recordCounts(t, record)
	if len(bad) > 0 {
		t.Errorf("record file has %d malformed lines (interleaved writes?): %q", len(bad), bad)
	}
	for i, id := range ids {
		tok := fmt.Sprintf("tok-%d", i)
		want := faultCodes[i%len(faultCodes)]
		var problems []string
		switch {
		case errs[i] != nil:
			problems = append(problems, errs[i].Error())
		case results[i].code != want:
			problems = append(problems, fmt.Sprintf("wait exited %d, want %d (stderr: %s)", results[i].code, want, strings.TrimSpace(results[i].stderr)))
		}
		if starts[tok] != 1 || ends[tok] != 1 {
			problems = append(problems, fmt.Sprintf("script started %d times and ended %d times, want 1 and 1", starts[tok], ends[tok]))
		}
		delete(starts, tok)
		if len(problems) == 0 {
			continue
		}
		failed++
		if failed <= 5 {
			t.Errorf("job %d (%s): %s\nevents:\n%s", i, id, strings.Join(problems, "; "), e.statusJSON(id))
		} else {
			t.Errorf("job %d (%s): %s", i, id, strings.Join(problems, "; "))
		}
	}
	for _, tok := range sortedKeys(starts) {
		t.Errorf("record file has %d starts of %q, which no job was given", starts[tok], tok)
	}
	return failed
}

// recordArgs are the arguments of record job i.
func recordArgs(record string, i int) []string {
	return []string{"faults", "record", record, fmt.Sprintf("tok-%d", i),
		strconv.Itoa(faultCodes[i%len(faultCodes)]), faultSleeps[i%len(faultSleeps)]}
}

// submitAll submits n record jobs, par at a time and one at most every
// pace, and returns their ids by index; done is closed when all are queued
// (or failed to be).
func (e *env) submitAll(record string, n, par int, pace time.Duration) (ids []string, errs []error, done chan struct{}) {
	ids = make([]string, n)
	errs = make([]error, n)
	done = make(chan struct{})
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i], errs[i] = e.submit(recordArgs(record, i)...)
			}
		}()
	}
	go func() {
		tick := time.NewTicker(max(pace, time.Microsecond))
		defer tick.Stop()
		for i := range n {
			next <- i
			if pace > 0 {
				<-tick.C
			}
		}
		close(next)
		wg.Wait()
		close(done)
	}()
	return ids, errs, done
}

func checkSubmitted(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submitting job %d: %v", i, err)
		}
	}
}

// faultSeed returns the seed of a fault test's randomness: the
// DEPLOYER_FAULT_SEED environment variable, to replay a run, or the clock.
func faultSeed(t *testing.T, what string) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("DEPLOYER_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("DEPLOYER_FAULT_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set DEPLOYER_FAULT_SEED to replay %s)", seed, what)
	return seed
}

// TestKillPipelinesAtRandom SIGKILLs "deployer up" processes at random
// moments while jobs are submitted and run, replacing each, and checks that
// every job ends with its script's exit code and every script ran exactly
// once: tasks started by a killed pipeline are adopted, not run again, and
// run orders it had taken reappear for another.
func TestKillPipelinesAtRandom(t *testing.T) {
	t.Parallel()
	n, minKills := 200, 10
	if testing.Short() {
		n = 40
	}
	seed := faultSeed(t, "the kill moments")
	rng := rand.New(rand.NewSource(seed))

	e := newEnv(t, faultConfig, faultScripts)
	record := filepath.Join(t.TempDir(), "record")
	begin := time.Now()
	pool := startUpPool(t, e, 2, begin, "--visibility", "3s", "-v")

	// Jobs arrive over window, so that most kills find scripts running
	// and run orders in flight.
	window := 20 * time.Second
	if testing.Short() {
		window = 8 * time.Second
	}
	ids, subErrs, submitted := e.submitAll(record, n, 4, window/time.Duration(n))

	// Kill a random pipeline every 0.5–2 s and replace it, at least
	// minKills times, until everything is submitted and every script has
	// ended (or a minute has passed).
	allSubmitted := false
	for {
		_, ends, _ := recordCounts(t, record)
		if pool.kills >= minKills && allSubmitted && (len(ends) >= n || time.Since(begin) > time.Minute) {
			break
		}
		timer := time.NewTimer(500*time.Millisecond + time.Duration(rng.Int63n(int64(1500*time.Millisecond))))
		select {
		case <-timer.C:
		case <-submitted:
			allSubmitted, submitted = true, nil
			timer.Stop()
			continue
		}
		pool.killOne(t, rng, record)
	}
	if submitted != nil {
		<-submitted
	}
	checkSubmitted(t, subErrs)
	killed := time.Since(begin)

	results, waitErrs := e.waitAll(ids, 8, 2*time.Minute)
	total := time.Since(begin)
	failed := checkRecords(t, e, record, ids, results, waitErrs)
	checkHistories(t, e, ids)
	pool.stop()
	adopted, finishedTwice := pool.adoptions(ids)
	for _, id := range finishedTwice {
		t.Logf("job %s was finished by more than one up; their log lines about it:\n%s", id, upLines(pool.all, id))
	}
	if failed > 0 || len(finishedTwice) > 0 || t.Failed() {
		t.Logf("kills:\n%s", strings.Join(pool.log, "\n"))
		t.Logf("warnings and errors of the ups:\n%s", pool.problems())
	}
	t.Logf("%d jobs, %d SIGKILLs of up (%d while scripts ran) in %.1fs; all jobs waited for after %.1fs; "+
		"%d jobs adopted (task started or found by more than one up); %d finished by more than one up; %d jobs wrong",
		n, pool.kills, pool.midTask, killed.Seconds(), total.Seconds(), adopted, len(finishedTwice), failed)
}

// TestTwoUpsStartEachJobOnce has two pipelines serve one state directory
// and checks that each of 30 jobs ran exactly once with its exit code.
func TestTwoUpsStartEachJobOnce(t *testing.T) {
	t.Parallel()
	const n = 30
	e := newEnv(t, faultConfig, faultScripts)
	record := filepath.Join(t.TempDir(), "record")
	e.startUp(t, "--visibility", "3s")
	e.startUp(t, "--visibility", "3s")
	ids, errs, done := e.submitAll(record, n, 6, 0)
	<-done
	checkSubmitted(t, errs)
	results, waitErrs := e.waitAll(ids, 8, 2*time.Minute)
	checkRecords(t, e, record, ids, results, waitErrs)
	checkHistories(t, e, ids)
}

// waitForFile polls path until ok says yes about its content, failing the
// test after d.
func waitForFile(t *testing.T, path string, d time.Duration, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(path)
		if ok(string(b)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %q after %s", path, b, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGTERMDrainsOrHandsOver stops a pipeline with SIGTERM while a job
// runs: a job that ends within --drain-timeout is seen through by it; one
// that does not, or after a second signal, is handed back (not left to
// --visibility) and adopted by another pipeline. Either way the script
// runs once and the job ends with its exit code.
func TestSIGTERMDrainsOrHandsOver(t *testing.T) {
	t.Parallel()
	stopping := regexp.MustCompile(`deployer: stopping`)
	cases := []struct {
		name  string
		up    []string
		again bool // a second SIGTERM
		// drains: the job ends while the first up drains, and no other
		// up is started.
		drains bool
	}{
		{name: "drain timeout hands back", up: []string{"--drain-timeout", "1s"}},
		{name: "second signal hands back", up: []string{"--drain-timeout", "10m"}, again: true},
		{name: "job ends while draining", up: []string{"--drain-timeout", "10m"}, drains: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, faultConfig, faultScripts)
			dir := t.TempDir()
			runs, gate := filepath.Join(dir, "runs"), filepath.Join(dir, "gate")
			// A long visibility: were the job not handed back, no other
			// up could adopt it within the test's deadlines.
			up1 := e.startUp(t, append([]string{"--visibility", "10m"}, c.up...)...)
			id, err := e.submit("faults", "gated", runs, gate)
			if err != nil {
				t.Fatal(err)
			}
			waitForFile(t, runs, 30*time.Second, func(s string) bool { return s != "" })

			if err := up1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			up1.stderr.waitFor(t, stopping, 10*time.Second)
			if c.drains {
				if err := os.WriteFile(gate, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if c.again {
				if err := up1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			if code := up1.wait(t, 30*time.Second); code != 0 {
				t.Errorf("up exited %d after SIGTERM; stderr:\n%s", code, up1.stderr.text())
			}

			if !c.drains {
				// The job must still be running: nothing ended it.
				if b, _ := os.ReadFile(runs); string(b) != "run\n" {
					t.Fatalf("runs file %q before another up started", b)
				}
				e.startUp(t, "--visibility", "3s")
				if err := os.WriteFile(gate, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			begin := time.Now()
			r, err := e.exec(time.Minute, "wait", id)
			if err != nil {
				t.Fatalf("%v\nevents:\n%s", err, e.statusJSON(id))
			}
			if r.code != 7 {
				t.Errorf("wait exited %d, want 7; stderr:\n%s\nevents:\n%s\nfirst up's stderr:\n%s", r.code, r.stderr, e.statusJSON(id), up1.stderr.text())
			}
			if d := time.Since(begin); d > 20*time.Second {
				t.Errorf("the job took %s to end after the gate opened: it was not handed back", d)
			}
			if b, _ := os.ReadFile(runs); string(b) != "run\n" {
				t.Errorf("the script ran %d times, want once", strings.Count(string(b), "run"))
			}
		})
	}
}

// sortedKeys is for stable failure messages.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
