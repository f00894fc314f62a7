package rollback_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/internal/rollback/rollbacktest"
)

// Planning describes task definitions on a few goroutines: none may
// outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPlanOnMemory runs the adapters' suite, whose scenarios are the
// planning logic's table (an upgrade rolled back, an unchanged
// logshipper, task definitions unchanged or new in an upgrade, twice in
// a row, --to, nothing to roll back, ...), on the in-memory deployment.
func TestPlanOnMemory(t *testing.T) {
	rollbacktest.Exercise(t, rollbacktest.Features{}, func(*testing.T) rollbacktest.Harness { return rollbacktest.NewMemory().Harness() })
}

func deployAB(t *testing.T) (*rollbacktest.Memory, string) {
	t.Helper()
	m := rollbacktest.NewMemory()
	p := "dep-"
	rollbacktest.Deploy(t, m, p, rollbacktest.Release{Name: "A"})
	rollbacktest.Deploy(t, m, p, rollbacktest.Release{Name: "B"})
	return m, p
}

func ports(m *rollbacktest.Memory) rollback.Ports { return m.Harness().Ports }

// The gatekeeper moves first (the rest follows the requests it
// forwards), and the worker service moves before any revision is
// deregistered; planning changes nothing (what --dry-run shows).
func TestChangesAreMadeInOrder(t *testing.T) {
	m, p := deployAB(t)
	plan, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Fatalf("planning made changes: %q", calls)
	}
	if err := rollback.Apply(t.Context(), ports(m), plan, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"UpdateAlias dep-gatekeeper 1",
		"UpdateAlias dep-logshipper 1",
		"UpdateService dep-tasks/dep-worker arn:aws:ecs:us-east-1:123456789012:task-definition/dep-worker:1",
		"DeregisterTaskDefinition arn:aws:ecs:us-east-1:123456789012:task-definition/dep-planner:2",
		"DeregisterTaskDefinition arn:aws:ecs:us-east-1:123456789012:task-definition/dep-worker:2",
	}
	if got := m.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A rollback stopped half-way (here AWS denies UpdateService) says what
// failed and how far it got; the next run, without --to, finishes it
// instead of going back another release.
func TestInterruptedRollbackIsFinishedByTheNextRun(t *testing.T) {
	m, p := deployAB(t)
	denied := &rollback.DeniedError{Action: "ecs:UpdateService", Resource: "dep-tasks/dep-worker", Err: errors.New("AccessDeniedException")}
	m.Fail = func(op, _ string) error {
		if op == "UpdateService" {
			return denied
		}
		return nil
	}
	plan, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	err = rollback.Apply(t.Context(), ports(m), plan, nil)
	var ae *rollback.ApplyError
	if !errors.As(err, &ae) || ae.Done != 2 || ae.Total != 5 || ae.Change.Kind != rollback.UpdateService || !errors.Is(err, rollback.ErrDenied) {
		t.Fatalf("Apply: %v; want an ApplyError after 2 of 5 changes, denied", err)
	}
	if !strings.Contains(err.Error(), "ecs:UpdateService") || !strings.Contains(err.Error(), "2 of 5") {
		t.Errorf("error %q does not say what failed and how far it got", err)
	}

	m.Fail = nil
	again, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	if again.Target != "A" || again.Resumed != "B" || len(again.Changes) != 3 || again.Changes[0].Kind != rollback.UpdateService {
		t.Fatalf("second plan: target %q resumed %q changes %+v; want the rest of the rollback to A", again.Target, again.Resumed, again.Changes)
	}
	if err := rollback.Apply(t.Context(), ports(m), again, nil); err != nil {
		t.Fatal(err)
	}
	if svc, _ := m.ServiceTaskDefinition(t.Context(), "dep-tasks", "dep-worker"); !strings.HasSuffix(svc, "dep-worker:1") {
		t.Errorf("service on %s, want dep-worker:1", svc)
	}
}

// An alias someone else moved between the plan and its application (a
// Terraform apply) is not overwritten.
func TestAliasMovedMeanwhileIsAConflict(t *testing.T) {
	m, p := deployAB(t)
	plan, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	m.SetAlias(t, p+"gatekeeper", 2, "deployer release B")
	err = rollback.Apply(t.Context(), ports(m), plan, nil)
	if !errors.Is(err, rollback.ErrConflict) || !strings.Contains(err.Error(), "run the rollback again") {
		t.Fatalf("Apply: %v; want ErrConflict saying to run again", err)
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Errorf("changes made after the conflict: %q", calls)
	}
}

// Container families are not prefixed, so two deployments in one region
// can share one: each rollback touches only its own deployment's
// revisions (deployer:deployment), and revisions of no deployment at all
// are left alone.
func TestDeploymentsSharingAFamily(t *testing.T) {
	m := rollbacktest.NewMemory()
	other := map[string]string{rollback.TagDeployment: "prod-", rollback.TagRelease: "B"}
	for _, r := range []string{"A", "B"} {
		rollbacktest.Deploy(t, m, "stg-", rollbacktest.Release{Name: r, Families: []string{}})
		m.Register(t, "planner", map[string]string{rollback.TagDeployment: "stg-", rollback.TagRelease: r})
		m.Register(t, "planner", other)
		m.Register(t, "planner", nil)
	}
	plan, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: "stg-"})
	if err != nil {
		t.Fatal(err)
	}
	var deregistered []string
	for _, c := range plan.Changes {
		if c.Kind == rollback.Deregister {
			deregistered = append(deregistered, c.Line(false))
		}
	}
	want := []string{
		"ecs task definition planner:4 (release B): deregistered",
		"ecs task definition stg-worker:2 (release B): deregistered",
	}
	if !slices.Equal(deregistered, want) {
		t.Errorf("deregistrations %q, want %q", deregistered, want)
	}
}

// A failure while describing task definitions ends the plan with it,
// naming the revision, and every describing goroutine stops.
func TestScanFailureEndsThePlan(t *testing.T) {
	m, p := deployAB(t)
	boom := errors.New("InternalFailure")
	m.Fail = func(op, res string) error {
		if op == "DescribeTaskDefinition" && strings.HasSuffix(res, "dep-planner:1") {
			return boom
		}
		return nil
	}
	_, err := rollback.MakePlan(t.Context(), ports(m), rollback.Deployment{Prefix: p})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "dep-planner:1") {
		t.Fatalf("MakePlan: %v; want the describe failure naming dep-planner:1", err)
	}
}

func TestGatekeeperWithoutReleases(t *testing.T) {
	for name, seed := range map[string]func(m *rollbacktest.Memory){
		"alias on $LATEST": func(m *rollbacktest.Memory) {
			m.Publish(t, "dep-gatekeeper", "A")
			m.SetAlias(t, "dep-gatekeeper", 0, "")
		},
		"version without a release": func(m *rollbacktest.Memory) {
			m.Publish(t, "dep-gatekeeper", "A")
			m.Publish(t, "dep-gatekeeper", "")
			m.SetAlias(t, "dep-gatekeeper", 2, "")
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := rollbacktest.NewMemory()
			seed(m)
			_, err := rollback.MakePlan(context.Background(), ports(m), rollback.Deployment{Prefix: "dep-"})
			if !errors.Is(err, rollback.ErrNothingToRollBack) {
				t.Fatalf("MakePlan: %v; want ErrNothingToRollBack", err)
			}
		})
	}
}

func TestReleaseOf(t *testing.T) {
	for in, want := range map[string]string{
		"deployer release 0123456789ab": "0123456789ab",
		"deployer release v1.2.0 ":      "v1.2.0",
		"deployer release ":             "",
		"release 1":                     "",
		"":                              "",
	} {
		if got := rollback.ReleaseOf(in); got != want {
			t.Errorf("ReleaseOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTaskDefinition(t *testing.T) {
	for _, c := range []struct {
		in     string
		family string
		rev    int
		ok     bool
	}{
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/deployer-worker:12", "deployer-worker", 12, true},
		{"terraform-planner:3", "terraform-planner", 3, true},
		{"terraform-planner", "", 0, false},
		{"x:0", "", 0, false},
		{":3", "", 0, false},
	} {
		f, r, ok := rollback.ParseTaskDefinition(c.in)
		if f != c.family || r != c.rev || ok != c.ok {
			t.Errorf("ParseTaskDefinition(%q) = %q, %d, %v", c.in, f, r, ok)
		}
	}
}
