package test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rieModule is the AWS Lambda Runtime Interface Emulator the Lambda tests
// run the functions under, installed through the Go module proxy.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// rieBinary finds the emulator: $DEPLOYER_TEST_RIE (.ci/run installs it
// there), else aws-lambda-rie on PATH, else it installs rieModule into the
// tests' build directory, once. A failure to install fails the test: the
// Lambda tests need nothing but Go and the module proxy.
func rieBinary(t testing.TB) string {
	t.Helper()
	p, err := findRIE()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var findRIE = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("DEPLOYER_TEST_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("DEPLOYER_TEST_RIE: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	dir := filepath.Join(buildDir, "rie")
	install := exec.Command("go", "install", rieModule)
	install.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing the Lambda Runtime Interface Emulator (go install %s): %w\n%s", rieModule, err, out)
	}
	return filepath.Join(dir, "aws-lambda-rie"), nil
})

// lambdaFunction is one execution environment of a Lambda function: its
// package (the bootstrap and its files, as Lambda unpacks them into
// LAMBDA_TASK_ROOT) run by the Runtime Interface Emulator, which serves
// the Lambda Invoke API on a loopback port and speaks the Runtime API
// with the bootstrap, as the Lambda service does. It takes one invocation
// at a time.
type lambdaFunction struct {
	name string
	url  string
	out  *syncBuffer
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// more is closed (and replaced) by each write.
	more chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.more != nil {
		close(s.more)
		s.more = nil
	}
	return s.b.Write(p)
}

// waitFor waits up to d for the buffer to hold every one of want, and
// reports whether it did: a process's output may reach the buffer after
// what it caused was seen elsewhere (the emulator copies a function's
// output on its own).
func (s *syncBuffer) waitFor(d time.Duration, want ...string) bool {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		text := s.b.String()
		if s.more == nil {
			s.more = make(chan struct{})
		}
		more := s.more
		s.mu.Unlock()
		found := true
		for _, w := range want {
			found = found && strings.Contains(text, w)
		}
		if found {
			return true
		}
		select {
		case <-more:
		case <-deadline:
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lambdaTimeout is the functions' timeout (AWS_LAMBDA_FUNCTION_TIMEOUT).
const lambdaTimeout = 60 * time.Second

// startLambda runs the function packaged in dir under the emulator with
// env as its configured environment (the emulator hands its own
// environment to the function), until the test ends.
func startLambda(t testing.TB, name, dir string, env []string) *lambdaFunction {
	t.Helper()
	rie := rieBinary(t)
	// A free port may be taken between the look-up and the emulator's
	// listen (by another test): then the emulator exits, and is started
	// again on other ports.
	var last string
	for range 3 {
		f, err := tryStartLambda(rie, name, dir, env)
		if err == nil {
			t.Cleanup(f.stop)
			return f
		}
		last = err.Error()
	}
	t.Fatalf("starting the %s function under the emulator: %s", name, last)
	return nil
}

func tryStartLambda(rie, name, dir string, env []string) (*lambdaFunction, error) {
	emu, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	api, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	f := &lambdaFunction{name: name, url: "http://" + emu + "/2015-03-31/functions/function/invocations", out: &syncBuffer{}, done: make(chan struct{})}
	f.cmd = exec.Command(rie, "--runtime-interface-emulator-address", emu, "--runtime-api-address", api, filepath.Join(dir, "bootstrap"))
	f.cmd.Dir = dir
	for _, kv := range env {
		// The emulator sets these itself; AWS_LAMBDA_MAX_CONCURRENCY
		// would switch it to another mode.
		if k, _, _ := strings.Cut(kv, "="); k != "AWS_LAMBDA_RUNTIME_API" && k != "AWS_LAMBDA_MAX_CONCURRENCY" {
			f.cmd.Env = append(f.cmd.Env, kv)
		}
	}
	f.cmd.Env = append(f.cmd.Env, "LAMBDA_TASK_ROOT="+dir, "AWS_LAMBDA_FUNCTION_NAME="+name,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(lambdaTimeout.Seconds())))
	// The emulator writes its own log, the START/END/REPORT lines and
	// everything the function writes: one record of what happened.
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = f.cmd.Wait(); close(f.done) }()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", emu, time.Second)
		if err == nil {
			_ = c.Close()
			return f, nil
		}
		select {
		case <-f.done:
			return nil, fmt.Errorf("the emulator exited before serving:\n%s", f.out.String())
		case <-deadline.C:
			f.stop()
			return nil, fmt.Errorf("the emulator did not serve %s within 30s:\n%s", emu, f.out.String())
		case <-tick.C:
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// stop shuts the emulator down (it kills the function's process).
func (f *lambdaFunction) stop() {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// output is what the emulator and the function wrote so far.
func (f *lambdaFunction) output() string { return f.out.String() }

// lambdaError is an invocation that failed in the function: the handler
// returned an error, the function crashed or exited, its init failed, or
// it timed out.
type lambdaError struct {
	// Status is the Invoke API's HTTP status: the emulator answers 200
	// for a handler's error (with the error as the body) and for a
	// timeout, 502 for a crash or a failed init.
	Status  int
	Type    string
	Message string
}

func (e *lambdaError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Type, e.Message, e.Status)
}

// invoke hands the function one event, synchronously, and returns its
// response. A failure in the function is a *lambdaError; any other error
// is the invocation's own (the emulator unreachable, ctx done).
func (f *lambdaFunction) invoke(ctx context.Context, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, lambdaTimeout+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", f.name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: reading the response: %w", f.name, err)
	}
	if ferr := functionError(resp.StatusCode, body); ferr != nil {
		return body, ferr
	}
	return body, nil
}

// functionError reads how the emulator reports a failed invocation: a
// status other than 200 (a crash, a failed init; the body may be empty),
// a timeout message, or the error document of the Lambda runtime (the
// errorType and errorMessage of the handler's error) as the body of a
// 200: the emulator sets no X-Amz-Function-Error header.
func functionError(status int, body []byte) *lambdaError {
	var doc struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	isDoc := json.Unmarshal(body, &doc) == nil && doc.Type != nil && doc.Message != nil
	switch {
	case status != http.StatusOK && isDoc:
		return &lambdaError{Status: status, Type: *doc.Type, Message: *doc.Message}
	case status != http.StatusOK:
		return &lambdaError{Status: status, Type: "Invoke.Failed", Message: fmt.Sprintf("%q", body)}
	case bytes.HasPrefix(body, []byte("Task timed out after")):
		return &lambdaError{Status: status, Type: "Sandbox.Timedout", Message: string(body)}
	case isDoc:
		return &lambdaError{Status: status, Type: *doc.Type, Message: *doc.Message}
	}
	return nil
}

// lambdaPool is several execution environments of one function, as
// Lambda scales a function out: an invocation takes whichever is free.
type lambdaPool struct {
	all  []*lambdaFunction
	free chan *lambdaFunction
}

func startLambdaPool(t testing.TB, n int, name, dir string, env []string) *lambdaPool {
	t.Helper()
	p := &lambdaPool{free: make(chan *lambdaFunction, n)}
	for range n {
		f := startLambda(t, name, dir, env)
		p.all = append(p.all, f)
		p.free <- f
	}
	return p
}

func (p *lambdaPool) invoke(ctx context.Context, event any) ([]byte, error) {
	var f *lambdaFunction
	select {
	case f = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { p.free <- f }()
	return f.invoke(ctx, event)
}

// output is what the pool's environments wrote, one after the other.
func (p *lambdaPool) output() string {
	var b strings.Builder
	for i, f := range p.all {
		fmt.Fprintf(&b, "--- environment %d:\n%s", i+1, f.output())
	}
	return b.String()
}

// unpack extracts a Lambda package into dir, modes kept.
func unpack(path, dir string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer func() { _ = zr.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.Name != filepath.Base(f.Name) || f.Name == ".." {
			return fmt.Errorf("%s: unexpected entry %q", path, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, f.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// unzip extracts a Lambda package into a new directory, modes kept.
func unzip(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unpack(path, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// packGatekeeper packs the gatekeeper's bootstrap with the allow-list
// config, as "make lambda GATEKEEPER_CONFIG=config" does, and returns the
// unpacked package.
func packGatekeeper(t *testing.T, config string) string {
	t.Helper()
	return unzip(t, packGatekeeperZip(t, config))
}

// packGatekeeperZip packs the gatekeeper with config as "make lambda"
// does and returns the zip's path.
func packGatekeeperZip(t *testing.T, config string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gatekeeper.zip")
	if b, err := exec.Command(lambdazipBin, "-o", out, "-config", config, gatekeeperBin).CombinedOutput(); err != nil {
		t.Fatalf("packing the gatekeeper: %v\n%s", err, b)
	}
	return out
}

// functionError tells each answer of the emulator seen in practice (the
// Lambda tests meet the handler error and the failed init for real).
func TestFunctionErrorReadsTheEmulatorsAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		body   string
		want   string // "" for success
	}{
		{200, `{"batchItemFailures":[]}`, ""},
		{200, `null`, ""},
		{200, `{"errorMessage":"boom","errorType":"errorString"}`, "errorString: boom"},
		{502, `{"errorType":"Runtime.ExitError","errorMessage":"exit status 1"}`, "Runtime.ExitError"},
		{502, ``, "Invoke.Failed"},
		{200, `Task timed out after 60.00 seconds`, "Sandbox.Timedout"},
	}
	for _, c := range cases {
		err := functionError(c.status, []byte(c.body))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%d %s: %v, want success", c.status, c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%d %s: %v, want %s", c.status, c.body, err, c.want)
		}
	}
	var le *lambdaError
	if !errors.As(error(functionError(502, nil)), &le) || le.Status != 502 {
		t.Errorf("functionError(502) = %v", le)
	}
}
