package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/awsrollback/awsrollbacktest"
	"github.com/deployerhq/deployer/internal/rollback/rollbacktest"
)

// TestRollbackOnMoto runs "deployer rollback" as an operator does, on a
// deployment seeded in the emulator (DEPLOYER_TEST_AWS_ENDPOINT) as two
// Terraform applies leave it: the dry run changes nothing, the rollback
// moves both aliases and the worker service back and deregisters the
// upgrade's task definitions, a second run changes nothing, and a prefix
// with no deployment exits 66.
func TestRollbackOnMoto(t *testing.T) {
	t.Parallel()
	endpoint := awstest.Endpoint(t, "lambda")
	h := awsrollbacktest.Harness(t)
	p := rollbacktest.NewPrefix()
	rollbacktest.Deploy(t, h.Seed, p, rollbacktest.Release{Name: "A"})
	rollbacktest.Deploy(t, h.Seed, p, rollbacktest.Release{Name: "B"})

	e := newEnv(t, awsConfig, awsScripts)
	e.extraEnv = awsEnv(endpoint)
	r := e.run("rollback", "--prefix", p, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "lambda "+p+"gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)") {
		t.Fatalf("rollback --dry-run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if v := aliasVersion(t, h.Ports, p+"gatekeeper"); v != 2 {
		t.Fatalf("--dry-run moved the gatekeeper's alias to version %d", v)
	}

	r = e.run("rollback", "--prefix", p)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || !strings.HasPrefix(lines[len(lines)-1], "Next: run deployer doctor") ||
		!strings.Contains(r.stdout, "ecs service "+p+"tasks/"+p+"worker: moved from "+p+"worker:2 (release B) to "+p+"worker:1 (release A)") {
		t.Fatalf("rollback: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, fn := range []string{p + "gatekeeper", p + "logshipper"} {
		if v := aliasVersion(t, h.Ports, fn); v != 1 {
			t.Errorf("alias live of %s on version %d, want 1", fn, v)
		}
	}

	r = e.run("rollback", "--prefix", p)
	if r.code != 0 || !strings.Contains(r.stdout, "Nothing to change: the deployment is on release A.") {
		t.Fatalf("second rollback: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("rollback", "--prefix", "nothing-"+p)
	if r.code != 66 || !strings.Contains(r.stderr, "no alias live of Lambda function nothing-"+p+"gatekeeper") {
		t.Fatalf("rollback of no deployment: exit %d, want 66\nstderr:\n%s", r.code, r.stderr)
	}
	r = e.run("--backend", "embedded", "rollback")
	if r.code != 64 || !strings.Contains(r.stderr, "rollback is for AWS deployments") {
		t.Fatalf("rollback on the embedded backend: exit %d, want 64\nstderr:\n%s", r.code, r.stderr)
	}
}

func aliasVersion(t *testing.T, ports rollback.Ports, fn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := ports.Functions.Alias(ctx, fn, rollback.Alias)
	if err != nil {
		t.Fatalf("reading alias live of %s: %v", fn, err)
	}
	return a.Version
}
