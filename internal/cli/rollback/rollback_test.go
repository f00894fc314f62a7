package rollback_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/cli/factory"
	clirollback "github.com/deployerhq/deployer/internal/cli/rollback"
	"github.com/deployerhq/deployer/internal/netx"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/rollbacktest"
)

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args   []string
		to     string
		dryRun bool
	}{
		{nil, "", false},
		{[]string{"--dry-run"}, "", true},
		{[]string{"--to", "3f2a9c1d7e4b", "--dry-run"}, "3f2a9c1d7e4b", true},
	} {
		var got *clirollback.Options
		cmd := clirollback.NewCmdRollback(&factory.Factory{}, func(_ context.Context, o *clirollback.Options) error { got = o; return nil })
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.To != c.to || got.DryRun != c.dryRun {
			t.Errorf("%v: to %q dry-run %v", c.args, got.To, got.DryRun)
		}
	}
	cmd := clirollback.NewCmdRollback(&factory.Factory{}, func(context.Context, *clirollback.Options) error { return nil })
	cmd.SetArgs([]string{"extra"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil {
		t.Error("an argument was accepted")
	}
}

// run runs "deployer rollback" on m (a deployment with prefix "dep-" in
// us-east-1) and returns its output and error.
func run(t *testing.T, m *rollbacktest.Memory, o clirollback.Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	f := &factory.Factory{
		IO:          factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
		Getenv:      func(string) string { return "" },
		BackendName: factory.BackendAWS,
	}
	o.Factory = f
	o.Open = func(context.Context, *factory.Factory) (rollback.Ports, rollback.Deployment, string, error) {
		return m.Harness().Ports, rollback.Deployment{Prefix: "dep-"}, `AWS deployment in us-east-1 with prefix "dep-"`, nil
	}
	err := clirollback.Run(context.Background(), &o)
	return out.String(), err
}

func upgraded(t *testing.T) *rollbacktest.Memory {
	m := rollbacktest.NewMemory()
	rollbacktest.Deploy(t, m, "dep-", rollbacktest.Release{Name: "A"})
	rollbacktest.Deploy(t, m, "dep-", rollbacktest.Release{Name: "B"})
	return m
}

// --dry-run prints the plan, one line per change, and changes nothing;
// the real run prints each change as it is made, then says to run
// doctor; a second run has nothing left to change.
func TestDryRunThenRollback(t *testing.T) {
	m := upgraded(t)
	out, err := run(t, m, clirollback.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`AWS deployment in us-east-1 with prefix "dep-": release B is live (gatekeeper version 2); rolling back to release A.`,
		"deployer rollback --to A",
		"lambda dep-gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)\n",
		"ecs task definition dep-worker:2 (release B): would deregister\n",
		"Dry run: nothing changed (5 changes planned)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Fatalf("--dry-run changed %q", calls)
	}

	out, err = run(t, m, clirollback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "Next: run deployer doctor") {
		t.Errorf("last line %q does not say to run doctor", last)
	}
	for _, want := range []string{
		"lambda dep-gatekeeper: moved alias live from version 2 (release B) to version 1 (release A)\n",
		"lambda dep-logshipper: moved alias live from version 2 (release B) to version 1 (release A)\n",
		"ecs service dep-tasks/dep-worker: moved from dep-worker:2 (release B) to dep-worker:1 (release A)\n",
		"ecs task definition dep-planner:2 (release B): deregistered\n",
		"ecs task definition dep-worker:2 (release B): deregistered\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(t, m, clirollback.Options{})
	if err != nil || !strings.Contains(out, "finishing that rollback") || !strings.Contains(out, "Nothing to change: the deployment is on release A.") {
		t.Errorf("second run: %v\n%s", err, out)
	}
}

func TestExitCodes(t *testing.T) {
	denied := func(op, res string) error {
		if op == "UpdateService" {
			return &rollback.DeniedError{Action: "ecs:UpdateService", Resource: res, Err: errors.New("api error AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ci-deployer/x is not authorized")}
		}
		return nil
	}
	refused := func(string, string) error {
		return fmt.Errorf("operation error Lambda: GetAlias: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
	}
	for _, c := range []struct {
		name  string
		fail  func(op, res string) error
		only  bool // only release A deployed
		to    string
		code  int
		words []string
	}{
		{name: "denied", fail: denied, code: 77, words: []string{"ecs:UpdateService", "dep-tasks/dep-worker", "operator's rights", "not CI's", "2 of 5 changes", "rollback --to A again"}},
		{name: "nothing to roll back to", only: true, code: 66, words: []string{"nothing to roll back to", "dep-gatekeeper"}},
		{name: "no such release", to: "Z", code: 66, words: []string{`names release "Z"`, "B, A"}},
		{name: "unreachable", fail: refused, code: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := rollbacktest.NewMemory()
			rollbacktest.Deploy(t, m, "dep-", rollbacktest.Release{Name: "A"})
			if !c.only {
				rollbacktest.Deploy(t, m, "dep-", rollbacktest.Release{Name: "B"})
			}
			m.Fail = c.fail
			_, err := run(t, m, clirollback.Options{To: c.to})
			if got := factory.Code(err); got != c.code {
				t.Fatalf("exit %d (%v), want %d", got, err, c.code)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.name == "unreachable" {
				// The root reports it as 69, naming the endpoint.
				if _, ok := netx.Unreachable(err); !ok {
					t.Errorf("the network error is lost: %v", err)
				}
			}
		})
	}
}

// The embedded backend has no releases to go back to: a usage error that
// says what to do instead.
func TestEmbeddedBackendIsAUsageError(t *testing.T) {
	var out bytes.Buffer
	f := &factory.Factory{IO: factory.IOStreams{Out: &out, ErrOut: &out}, Getenv: func(string) string { return "" }}
	err := clirollback.Run(context.Background(), &clirollback.Options{Factory: f})
	if factory.Code(err) != 64 || !strings.Contains(err.Error(), "rollback is for AWS deployments") || !strings.Contains(err.Error(), "install the previous deployer version") {
		t.Fatalf("exit %d: %v", factory.Code(err), err)
	}
}
