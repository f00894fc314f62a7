package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// deployerBin is the binary under test (with deployer-supervisor and
// deployerAWSBin, deployer-aws, which it hands the command lines that
// need the aws backend, metrics, span export or the dashboard to, of the
// same build, beside it), awsfakesBin the AWS fakes' server
// the --backend aws tests run it against, workerBin the AWS worker daemon,
// deployerTaskBin the tasks' entrypoint, lambdazipBin the Lambda packager
// stamperBin and maxrssBin the benchmarks' line-latency script and
// memory gauge, and floorBin the measure of a served job's least cost
// (test/floor), all built for this host; gatekeeperPkg and logshipperPkg
// are the Lambda packages as "make lambda" builds them (for Linux on this
// machine's architecture), unpacked as Lambda unpacks them, and
// gatekeeperBin and logshipperBin their bootstraps. TestMain builds them
// all once.
var (
	deployerBin, deployerAWSBin, awsfakesBin, workerBin, deployerTaskBin, lambdazipBin, stamperBin, maxrssBin, floorBin string
	gatekeeperPkg, logshipperPkg, gatekeeperBin, logshipperBin                                                          string
)

// copyExecutable copies the executable src to dst, for a test that runs
// it from elsewhere. The copy is written with no fork of this process
// under way: a child forked while dst is open for writing holds it open
// until it execs, and exec of dst meanwhile (another test's, in
// parallel) fails with "text file busy".
func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	syscall.ForkLock.RLock()
	err = os.WriteFile(dst, data, 0o755) //nolint:gosec // a binary the test runs
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
}

// buildDir holds what TestMain built (and the emulator, when it is
// installed for the tests).
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deployer-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	deployerBin = filepath.Join(dir, "deployer")
	deployerAWSBin = filepath.Join(dir, "deployer-aws")
	awsfakesBin = filepath.Join(dir, "awsfakes")
	workerBin = filepath.Join(dir, "worker")
	deployerTaskBin = filepath.Join(dir, "deployer-task")
	lambdazipBin = filepath.Join(dir, "lambdazip")
	stamperBin = filepath.Join(dir, "stamper")
	maxrssBin = filepath.Join(dir, "maxrss")
	floorBin = filepath.Join(dir, "floor")
	build := exec.Command("go", "build", "-o", dir,
		"../cmd/deployer", "../cmd/deployer-aws", "../cmd/deployer-supervisor", "./awsfake/awsfakes", "../cmd/worker", "../cmd/deployer-task", "../internal/tools/lambdazip", "./stamper", "./maxrss", "./floor")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building deployer:", err)
		os.Exit(1)
	}
	if err := buildLambdas(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building the Lambda packages:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildLambdas builds the gatekeeper and logshipper packages as "make
// lambda" does (a static Linux binary with -tags lambda.norpc,grpcnotrace,
// stripped, packed by lambdazip as the zip's bootstrap), for this
// machine's architecture, and unpacks each into dir/<function>, so that
// what the tests run is what ships.
func buildLambdas(dir string) error {
	bin := filepath.Join(dir, "linux_"+runtime.GOARCH)
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc,grpcnotrace", "-ldflags=-s -w",
		"-o", bin+string(filepath.Separator), "../cmd/gatekeeper", "../cmd/logshipper")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	for _, fn := range []string{"gatekeeper", "logshipper"} {
		zip := filepath.Join(dir, fn+".zip")
		if out, err := exec.Command(lambdazipBin, "-o", zip, filepath.Join(bin, fn)).CombinedOutput(); err != nil {
			return fmt.Errorf("packing %s: %w\n%s", fn, err, out)
		}
		if err := unpack(zip, filepath.Join(dir, fn)); err != nil {
			return fmt.Errorf("unpacking %s: %w", zip, err)
		}
	}
	gatekeeperPkg, logshipperPkg = filepath.Join(dir, "gatekeeper"), filepath.Join(dir, "logshipper")
	gatekeeperBin, logshipperBin = filepath.Join(gatekeeperPkg, "bootstrap"), filepath.Join(logshipperPkg, "bootstrap")
	return nil
}

// env is one user's setup: a state directory and a configuration with
// its scripts, written by the test.
type env struct {
	t       testing.TB
	state   string
	config  string
	scripts string
	// extraEnv is added to the environment of the next command.
	extraEnv []string
	// as, when set, changes every command before it runs (another user,
	// another copy of the binary).
	as func(*exec.Cmd)
}

// newEnv writes config (YAML; "SCRIPTS" is replaced by the scripts
// directory) and scripts (name → body) and returns the setup.
func newEnv(t testing.TB, config string, scripts map[string]string) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, state: filepath.Join(root, "state"), scripts: filepath.Join(root, "scripts"), config: filepath.Join(root, "deployer.yaml")}
	if err := os.MkdirAll(e.scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(e.scripts, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config = strings.ReplaceAll(config, "SCRIPTS", e.scripts)
	if err := os.WriteFile(e.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.waitIdle() })
	return e
}

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

// cmd builds a deployer command on this setup.
func (e *env) cmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--state-dir", e.state, "--config", e.config}, args...)
	c := exec.CommandContext(ctx, deployerBin, full...)
	// The tests speak the plain dialect whatever CI runs them; those of
	// the CI dialects (ci_test.go) set the variables again.
	c.Env = append(append(os.Environ(), "DEPLOYER_CONFIG=", "DEPLOYER_STATE_DIR=",
		"GITHUB_ACTIONS=", "GITLAB_CI=", "BUILDKITE=", "NO_COLOR="), e.extraEnv...)
	// A command that overruns its test's deadline dumps its goroutines
	// (SIGQUIT) so the failure says where it hung.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGQUIT) }
	c.WaitDelay = 10 * time.Second
	if e.as != nil {
		e.as(c)
	}
	return c
}

// run runs deployer to completion.
func (e *env) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.cmd(ctx, args...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("deployer %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, r.stdout, r.stderr)
	}
	return r
}

// start starts deployer in the background; its stdout and stderr are
// readable line by line.
type proc struct {
	cmd    *exec.Cmd
	stdout *lineReader
	stderr *lineReader
	done   chan struct{}
	code   int
}

func (e *env) start(args ...string) *proc {
	e.t.Helper()
	c := e.cmd(context.Background(), args...)
	outR, err := c.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	errR, err := c.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: c, stdout: newLineReader(outR), stderr: newLineReader(errR), done: make(chan struct{})}
	go func() {
		p.stdout.wait()
		p.stderr.wait()
		err := c.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	e.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("process did not exit within %s; stderr so far:\n%s", d, p.stderr.text())
		return -1
	}
}

// lineReader collects a stream's lines and lets tests wait for one.
type lineReader struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
	eof   chan struct{}
}

func newLineReader(r io.Reader) *lineReader {
	l := &lineReader{more: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(l.eof)
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, s.Text())
			close(l.more)
			l.more = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *lineReader) wait() { <-l.eof }

func (l *lineReader) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns the first line matching re, waiting up to d.
func (l *lineReader) waitFor(t testing.TB, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	seen := 0
	for {
		l.mu.Lock()
		for ; seen < len(l.lines); seen++ {
			if m := re.FindStringSubmatch(l.lines[seen]); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-l.eof:
			l.mu.Lock()
			n := len(l.lines)
			l.mu.Unlock()
			if seen == n {
				t.Fatalf("stream ended without a line matching %s; got:\n%s", re, l.text())
			}
		case <-deadline:
			t.Fatalf("no line matching %s within %s; got:\n%s", re, d, l.text())
		}
	}
}

// waitIdle kills whatever this setup left running (servers, and
// supervisors of tasks a test abandoned on purpose), so that its
// directories can be removed. Until pkill finds none: a server may start
// a supervisor (a spare, for its next task) after pkill has looked and
// before its signal lands, and that one would open the state database
// again while the directory is removed.
func (e *env) waitIdle() {
	for range 100 {
		// pkill exits 1 when nothing matched (a killed process that has
		// exited does not: its command line is gone).
		if err := exec.Command("pkill", "-KILL", "-f", e.state).Run(); err != nil {
			return
		}
	}
	e.t.Errorf("processes of %s still there after 100 rounds of pkill", e.state)
}

var jobSubmitted = regexp.MustCompile(`job ([0-9A-Z]{26}) submitted`)
