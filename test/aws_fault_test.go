package test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/topology"
)

// awsFaultConfig is faultConfig on --backend aws: the scripts run as ECS
// tasks of the fakes' "deployer" task definition, and "ops append" is the
// dead-letter tests' script.
const awsFaultConfig = `
lanes:
  default: {concurrency: 16}
containers:
  faults:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    timeout: 5m
    script_config:
      record:
        allow_positional_args: true
        allowed_options: []
      gated:
        allow_positional_args: true
        allowed_options: []
  ops:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    script_config:
      append:
        allow_positional_args: true
`

// awsFaultScripts are the fault tests' scripts, except that "record" also
// appends the job id ECS gave the task ($DEPLOYER_JOB_ID) to FILE.jobs
// before it starts, so a run is traced to its job as well as its token.
var awsFaultScripts = map[string]string{
	"record": "#!/bin/sh\necho \"$DEPLOYER_JOB_ID\" >> \"$1.jobs\"\n" + strings.TrimPrefix(faultScripts["record"], "#!/bin/sh\n"),
	"gated":  faultScripts["gated"],
	"append": dlqScripts["append"],
}

// awsFaultFlags are the fakes' server-side faults of these tests: a few
// per cent of all requests throttled, failed with 500 or served and then
// left unanswered (the connection reset), with up to 20ms of latency.
var awsFaultFlags = []string{"-throttle", "0.03", "-server-errors", "0.03", "-reset-after", "0.02", "-latency", "20ms"}

// awsFakes is a running awsfakes with faults.
type awsFakes struct {
	url string
	cmd *exec.Cmd
	// faults receives each "faults: ..." line it prints.
	faults chan string
}

// startFaultyAWSFakes starts the AWS fakes with server-side faults and
// points the setup's commands at them, as startAWSFakes does.
func startFaultyAWSFakes(t *testing.T, e *env, flags ...string) *awsFakes {
	t.Helper()
	f := launchAWSFakes(t, e.scripts, flags...)
	e.extraEnv = append(e.extraEnv, awsEnv(f.url)...)
	return f
}

// launchAWSFakes starts the AWS fakes' server, its ECS tasks running the
// scripts of dir, and stops it when the test ends.
func launchAWSFakes(t *testing.T, dir string, flags ...string) *awsFakes {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := exec.CommandContext(ctx, awsfakesBin, append([]string{"-scripts", dir}, flags...)...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 10 * time.Second
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	f := &awsFakes{cmd: c, faults: make(chan string, 16)}
	urlc := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(urlc)
		s := bufio.NewScanner(out)
		for s.Scan() {
			if u, ok := strings.CutPrefix(s.Text(), "listening on "); ok {
				urlc <- u
			}
			if l, ok := strings.CutPrefix(s.Text(), "faults: "); ok {
				select {
				case f.faults <- l:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = c.Wait()
	})
	select {
	case f.url = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatal("the AWS fakes did not start")
	}
	if f.url == "" {
		t.Fatal("the AWS fakes exited before serving")
	}
	return f
}

// faultCounts asks the fakes for the faults they injected so far.
func (f *awsFakes) faultCounts(t *testing.T) string {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err.Error()
	}
	select {
	case l := <-f.faults:
		return l
	case <-time.After(10 * time.Second):
		return "(no answer to SIGUSR1)"
	}
}

// queueDepths returns, for each of the deployment's queues, how many
// messages it holds (visible, in flight and delayed), asked of the fakes
// directly, without faults.
func (f *awsFakes) queueDepths(t *testing.T) map[string]int {
	t.Helper()
	cfg, err := awsx.Load(t.Context(), awsx.Options{
		Region:            "us-east-1",
		HTTPClient:        &http.Client{Timeout: 30 * time.Second},
		StaticCredentials: &awsx.Credentials{AccessKeyID: "AROACIROLE", SecretAccessKey: "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(f.url)
	c := sqs.NewFromConfig(cfg)
	out := map[string]int{}
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("deployer-")})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("listing queues: %v", err)
		}
		for _, u := range page.QueueUrls {
			a, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{
				types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			}})
			if err != nil {
				t.Fatalf("queue %s: %v", u, err)
			}
			n := 0
			for _, v := range a.Attributes {
				k, _ := strconv.Atoi(v)
				n += k
			}
			out[u[strings.LastIndex(u, "/")+1:]] = n
		}
	}
	return out
}

// checkQueuesDrained checks that the request queue and the lanes' run
// queues hold nothing: every request was taken and every run order
// settled.
func (f *awsFakes) checkQueuesDrained(t *testing.T) {
	t.Helper()
	depths := f.queueDepths(t)
	if _, ok := depths["deployer-"+topology.RequestQueue]; !ok {
		t.Errorf("no request queue among %v", depths)
	}
	for name, n := range held(depths) {
		t.Errorf("queue %s still holds %d messages", name, n)
	}
}

// held returns the request and lane queues of depths that hold messages.
func held(depths map[string]int) map[string]int {
	out := map[string]int{}
	for name, n := range depths {
		base := strings.TrimPrefix(name, "deployer-")
		if (base == topology.RequestQueue || strings.HasPrefix(base, topology.LaneQueuePrefix)) && n != 0 {
			out[name] = n
		}
	}
	return out
}

// awaitQueuesDrained waits up to d for the request and lane queues to be
// empty (a server still serving takes what is left: a copy of a request
// handed back, say), then checks them as checkQueuesDrained does.
func (f *awsFakes) awaitQueuesDrained(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(held(f.queueDepths(t))) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	f.checkQueuesDrained(t)
}

// runAll runs n record jobs with "deployer run", par at a time and one at
// most every pace, and returns each run's result and job id by index;
// done is closed when all have ended.
func (e *env) runAll(record string, n, par int, pace time.Duration) (ids []string, results []result, errs []error, done chan struct{}) {
	ids, results, errs = make([]string, n), make([]result, n), make([]error, n)
	done = make(chan struct{})
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = e.exec(3*time.Minute, append([]string{"run", "--"}, recordArgs(record, i)...)...)
				if m := jobSubmitted.FindStringSubmatch(results[i].stderr); m != nil {
					ids[i] = m[1]
				} else if errs[i] == nil {
					errs[i] = fmt.Errorf("run printed no job id; exit %d, stderr:\n%s", results[i].code, results[i].stderr)
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(max(pace, time.Microsecond))
		defer tick.Stop()
		for i := range n {
			next <- i
			<-tick.C
		}
		close(next)
		wg.Wait()
		close(done)
	}()
	return ids, results, errs, done
}

// checkJobIDs checks that each job's task ran under its own job id,
// exactly once: the record scripts append $DEPLOYER_JOB_ID to path.
func checkJobIDs(t *testing.T, path string, ids []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		runs[l]++
	}
	for i, id := range ids {
		if id != "" && runs[id] != 1 {
			t.Errorf("job %d (%s): its task ran %d times under its id, want once", i, id, runs[id])
		}
		delete(runs, id)
	}
	for _, id := range sortedKeys(runs) {
		t.Errorf("a task ran %d times as job %q, which no run submitted", runs[id], id)
	}
}

// TestAWSFaultKillPipelinesAtRandom is TestKillPipelinesAtRandom on
// --backend aws against the AWS fakes with server-side faults on: 200
// jobs, each submitted and followed by its own "deployer run", while
// "deployer up --provision" processes are SIGKILLed at random moments and
// replaced. Every run must exit with its script's code, every script run
// exactly once (by token and by $DEPLOYER_JOB_ID), and the request and run
// queues end empty. Adoption after a kill goes through the startedBy
// look-up and RunTask's clientToken.
func TestAWSFaultKillPipelinesAtRandom(t *testing.T) {
	t.Parallel()
	n, minKills := 200, 8
	if testing.Short() {
		n, minKills = 40, 3
	}
	seed := faultSeed(t, "the kill moments and faults")
	rng := rand.New(rand.NewSource(seed))

	e := newEnv(t, awsFaultConfig, awsFaultScripts)
	// A follower's ReceiveMessage answer lost hides the job's events for
	// the stream queue's 30s visibility: harmless (they come, once, but
	// late) and tested by the stream's own fault test, but with 200
	// followers it would stretch this test by a minute, so job streams'
	// receives are spared the resets. The request and run queues'
	// receives are not: a lost one redelivers a request or run order to
	// another up after --visibility.
	fakes := startFaultyAWSFakes(t, e, append(awsFaultFlags,
		"-no-reset-after", "AmazonSQS.ReceiveMessage/deployer-job-",
		"-seed", strconv.FormatUint(uint64(seed), 10))...)
	record := filepath.Join(t.TempDir(), "record")
	begin := time.Now()
	pool := startUpPool(t, e, 2, begin, "--provision", "--visibility", "3s", "-v")

	window := 30 * time.Second
	if testing.Short() {
		window = 10 * time.Second
	}
	ids, results, runErrs, ran := e.runAll(record, n, 16, window/time.Duration(n))

	// Kill a random pipeline every 0.5–2.5 s and replace it while jobs
	// are being submitted (and at least minKills times), then let the
	// remaining runs end.
	var killed time.Duration // when the last kill was
	for finished := false; !finished; {
		timer := time.NewTimer(500*time.Millisecond + time.Duration(rng.Int63n(int64(2*time.Second))))
		select {
		case <-ran:
			timer.Stop()
			finished = true
			continue
		case <-timer.C:
		}
		if pool.kills >= minKills && time.Since(begin) > window {
			continue
		}
		// Kill while a script runs: its task is RUNNING on ECS and the
		// up tracking it dies under it.
		scriptRunning(t, record, 2*time.Second)
		pool.killOne(t, rng, record)
		killed = time.Since(begin)
	}
	total := time.Since(begin)
	if pool.kills < minKills {
		t.Errorf("only %d kills before every run ended, want at least %d: the runs were too quick to test anything", pool.kills, minKills)
	}
	// ECS tasks run on their own (the fake runs them as ECS does, not
	// inside RunTask): most kills must find scripts running, tracked by
	// the pipelines, or the test tests nothing.
	if pool.midTask < pool.kills/2 {
		t.Errorf("only %d of %d kills found scripts running, want at least half", pool.midTask, pool.kills)
	}
	if testing.Verbose() {
		t.Logf("kills:\n%s", strings.Join(pool.log, "\n"))
	}

	failed := checkRecords(t, e, record, ids, results, runErrs)
	checkJobIDs(t, record+".jobs", ids)
	fakes.checkQueuesDrained(t)
	faults := fakes.faultCounts(t)
	pool.stop()
	adopted, finishedTwice := pool.adoptions(ids)
	if failed > 0 || t.Failed() {
		if !testing.Verbose() {
			t.Logf("kills:\n%s", strings.Join(pool.log, "\n"))
		}
		t.Logf("warnings and errors of the ups:\n%s", pool.problems())
	}
	t.Logf("%d jobs by concurrent runs, %d SIGKILLs of up (%d while scripts ran), server-side faults %s; "+
		"the last kill at %.1fs; all runs ended after %.1fs; %d jobs adopted (task started or found by more than one up); %d finished by more than one up; %d jobs wrong",
		n, pool.kills, pool.midTask, faults, killed.Seconds(), total.Seconds(), adopted, len(finishedTwice), failed)
}

// scriptRunning waits until the record file shows a script started and
// not ended, or for at most d (then the kill finds none running, and is
// counted so).
func scriptRunning(t *testing.T, record string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		starts, ends, _ := recordCounts(t, record)
		for tok, n := range starts {
			if ends[tok] < n {
				return
			}
		}
		// The scripts write to a file: nothing to wait on but its content.
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAWSFaultSIGTERMDrainsOrHandsOver is TestSIGTERMDrainsOrHandsOver on
// --backend aws with server-side faults on. The "gated" job's ECS task is
// RUNNING, its script waiting for the gate, when the signal comes: the
// stopping up must either track it to its end (drain) or hand it back to
// another up, which adopts the running task (found by startedBy) instead
// of starting it again.
func TestAWSFaultSIGTERMDrainsOrHandsOver(t *testing.T) {
	t.Parallel()
	stopping := regexp.MustCompile(`deployer: stopping`)
	cases := []struct {
		name   string
		up     []string
		again  bool
		drains bool
	}{
		{name: "drain timeout hands back", up: []string{"--drain-timeout", "1s"}},
		{name: "second signal hands back", up: []string{"--drain-timeout", "10m"}, again: true},
		{name: "job ends while draining", up: []string{"--drain-timeout", "10m"}, drains: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, awsFaultConfig, awsFaultScripts)
			// The first up takes the run order with a 10m visibility,
			// so that only a hand-back lets another up adopt it: a
			// ReceiveMessage answer lost then would hide it for 10m
			// (as on SQS), so receives are spared the resets here.
			fakes := startFaultyAWSFakes(t, e, append(awsFaultFlags, "-no-reset-after", "AmazonSQS.ReceiveMessage")...)
			dir := t.TempDir()
			runs, gate := filepath.Join(dir, "runs"), filepath.Join(dir, "gate")
			up1 := e.startUp(t, append([]string{"--provision", "--visibility", "10m", "-v"}, c.up...)...)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("first up's stderr:\n%s", up1.stderr.text())
				}
			})
			id, err := e.submit("faults", "gated", runs, gate)
			if err != nil {
				t.Fatal(err)
			}
			waitForFile(t, runs, 30*time.Second, func(s string) bool { return s != "" })

			if err := up1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			up1.stderr.waitFor(t, stopping, 10*time.Second)
			switch {
			case c.drains:
				if err := os.WriteFile(gate, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			case c.again:
				if err := up1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			if !c.drains {
				// The task is still running: start another up, then
				// let the task end.
				if b, _ := os.ReadFile(runs); string(b) != "run\n" {
					t.Fatalf("runs file %q before another up started", b)
				}
				e.startUp(t, "--visibility", "3s")
				if err := os.WriteFile(gate, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if code := up1.wait(t, 60*time.Second); code != 0 {
				t.Errorf("up exited %d after SIGTERM; stderr:\n%s", code, up1.stderr.text())
			}
			if c.drains {
				// A request the first up held when told to stop went back
				// to the queue (a copy the submit's retried send made, when
				// its first answer was lost): another up takes it, and
				// finds its job accepted already.
				e.startUp(t, "--visibility", "3s")
			}
			r, err := e.exec(time.Minute, "wait", id)
			if err != nil {
				t.Fatalf("%v\nevents:\n%s", err, e.statusJSON(id))
			}
			if r.code != 7 {
				t.Errorf("wait exited %d, want 7; stderr:\n%s\nevents:\n%s\nfirst up's stderr:\n%s", r.code, r.stderr, e.statusJSON(id), up1.stderr.text())
			}
			fakes.awaitQueuesDrained(t, 30*time.Second)
			if b, _ := os.ReadFile(runs); string(b) != "run\n" {
				t.Errorf("the script ran %d times, want once", strings.Count(string(b), "run"))
			}
			t.Logf("server-side faults: %s", fakes.faultCounts(t))
		})
	}
}

// TestAWSFaultConcurrentReplaysStartOneTask races two "deployer dlq
// replay"s of one dead letter on --backend aws with server-side faults
// on: both name the same replay job, and its task starts once.
func TestAWSFaultConcurrentReplaysStartOneTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsFaultConfig, awsFaultScripts)
	fakes := startFaultyAWSFakes(t, e, awsFaultFlags...)
	e.startUp(t, "--provision", "--visibility", "3s")

	e.replayTwiceAtOnce(t)
	fakes.checkQueuesDrained(t)
	t.Logf("server-side faults: %s", fakes.faultCounts(t))
}
