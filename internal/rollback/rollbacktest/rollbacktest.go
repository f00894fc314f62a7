// Package rollbacktest holds the suite every adapter of the rollback
// ports passes (Exercise), an in-memory adapter (Memory) for tests of
// what uses them, and Deploy, which leaves a deployment as one Terraform
// apply of a release would.
package rollbacktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/rollback"
)

// Seeder makes the state a rollback starts from, as the Terraform module
// makes it.
type Seeder interface {
	// Publish publishes a new version of function (created first if
	// missing), described "deployer release <release>", and returns its
	// number.
	Publish(t testing.TB, function, release string) int
	// SetAlias creates or updates the alias live of function.
	SetAlias(t testing.TB, function string, version int, description string)
	// Register registers a revision of family with tags and returns its
	// ARN.
	Register(t testing.TB, family string, tags map[string]string) string
	// SetService creates (with its cluster) or updates service of
	// cluster to run the task definition arn.
	SetService(t testing.TB, cluster, service, arn string)
}

// Harness is an adapter under test and a way to seed what it reads.
type Harness struct {
	Ports rollback.Ports
	Seed  Seeder
}

// Release is what one Terraform apply of the module publishes and
// registers.
type Release struct {
	// Name is the release.
	Name string
	// SkipLogshipper: the logshipper's code and settings did not change,
	// so Terraform published no version of it.
	SkipLogshipper bool
	// Families are the container task definition families (after the
	// prefix) registered anew. Nil: "planner"; empty: none.
	Families []string
	// NoWorker: no worker task definition nor service.
	NoWorker bool
}

// Deploy leaves the deployment of prefix as an apply of r would: new
// versions of both functions described "deployer release <Name>" with
// the alias live on them, a new revision of each family tagged
// deployer:release and deployer:deployment, and the worker service on
// the new worker revision.
func Deploy(t testing.TB, s Seeder, prefix string, r Release) {
	t.Helper()
	fns := []string{prefix + "gatekeeper"}
	if !r.SkipLogshipper {
		fns = append(fns, prefix+"logshipper")
	}
	for _, fn := range fns {
		v := s.Publish(t, fn, r.Name)
		s.SetAlias(t, fn, v, rollback.DescriptionPrefix+r.Name)
	}
	tags := map[string]string{rollback.TagRelease: r.Name, rollback.TagDeployment: prefix}
	families := r.Families
	if families == nil {
		families = []string{"planner"}
	}
	for _, f := range families {
		s.Register(t, prefix+f, tags)
	}
	if !r.NoWorker {
		arn := s.Register(t, prefix+"worker", tags)
		s.SetService(t, prefix+"tasks", prefix+"worker", arn)
	}
}

// Timeout bounds each scenario's calls.
const Timeout = 2 * time.Minute

var prefixes atomic.Int64

// NewPrefix returns a deployment prefix no other test of this process
// uses (emulators are shared between tests and runs).
func NewPrefix() string {
	return fmt.Sprintf("rb%d%d-", time.Now().UnixNano()%1_000_000_000, prefixes.Add(1))
}

// step is a Terraform apply (deploy) or a rollback (to: "" for the
// default) made before the scenario's rollback.
type step struct {
	deploy   *Release
	rollback *string
}

func deploy(r Release) step { return step{deploy: &r} }
func rolledBack(to string) step {
	return step{rollback: &to}
}

// state is what a deployment runs, read back through the ports.
type state struct {
	gatekeeper, logshipper int
	// service is the worker service's task definition as family:revision.
	service string
	// active lists the deployment's ACTIVE revisions as
	// "family:revision release".
	active []string
}

// scenario is a rollback of a deployment made by steps.
type scenario struct {
	name  string
	steps []step
	to    string
	// wantErr, when set, is the error planning must fail with.
	wantErr error
	target  string
	resumed string
	skipped []string
	// lines are the planned changes' lines ("{p}" is the prefix).
	lines []string
	// notes are texts the plan's notes must contain, one each.
	notes []string
	// after is the state after applying the plan.
	after state
}

var scenarios = []scenario{{
	name:   "upgrade rolled back",
	steps:  []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"})},
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 2 (release B) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:2 (release B) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
	},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name:   "twice in a row finishes the first",
	steps:  []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), rolledBack("")},
	target: "A", resumed: "B",
	notes: []string{"{p}gatekeeper: alias live is on version 1 (release A) already", "{p}worker:1 (release A) already"},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name:   "logshipper unchanged by the upgrade",
	steps:  []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B", SkipLogshipper: true})},
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:2 (release B) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
	},
	notes: []string{"{p}logshipper: alias live is on version 1 (release A) already"},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name: "logshipper has no version of the target",
	steps: []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B", SkipLogshipper: true}),
		deploy(Release{Name: "C"})},
	target: "B",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 3 (release C) to version 2 (release B)",
		"lambda {p}logshipper: would move alias live from version 2 (release C) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:3 (release C) to {p}worker:2 (release B)",
		"ecs task definition {p}planner:3 (release C): would deregister",
		"ecs task definition {p}worker:3 (release C): would deregister",
	},
	notes: []string{"{p}logshipper: has no version of release B; goes back to its newest version of a release not rolled back, version 1 (release A)"},
	after: state{gatekeeper: 2, logshipper: 1, service: "{p}worker:2",
		active: []string{"{p}planner:1 A", "{p}planner:2 B", "{p}worker:1 A", "{p}worker:2 B"}},
}, {
	name: "logshipper not on the live release stays",
	steps: []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B", SkipLogshipper: true}),
		deploy(Release{Name: "C", SkipLogshipper: true})},
	target: "B",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 3 (release C) to version 2 (release B)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:3 (release C) to {p}worker:2 (release B)",
		"ecs task definition {p}planner:3 (release C): would deregister",
		"ecs task definition {p}worker:3 (release C): would deregister",
	},
	notes: []string{"{p}logshipper: has no version of release B (its code and settings did not change in it); stays on version 1 (release A)"},
	after: state{gatekeeper: 2, logshipper: 1, service: "{p}worker:2",
		active: []string{"{p}planner:1 A", "{p}planner:2 B", "{p}worker:1 A", "{p}worker:2 B"}},
}, {
	name: "task definitions unchanged or new in the upgrade",
	steps: []step{deploy(Release{Name: "A", Families: []string{"planner", "builder"}}),
		deploy(Release{Name: "B", Families: []string{"planner", "applier"}})},
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 2 (release B) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:2 (release B) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
	},
	notes: []string{"family {p}applier: has only revisions of release B; kept ACTIVE"},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1",
		active: []string{"{p}applier:1 B", "{p}builder:1 A", "{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name:   "--to goes back several releases",
	steps:  []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), deploy(Release{Name: "C"})},
	to:     "A",
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 3 (release C) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 3 (release C) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:3 (release C) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}planner:3 (release C): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
		"ecs task definition {p}worker:3 (release C): would deregister",
	},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name: "--to further back after a rollback",
	steps: []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), deploy(Release{Name: "C"}),
		rolledBack("")},
	to:     "A",
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 2 (release B) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:2 (release B) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
	},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name: "a release rolled back earlier is passed over",
	steps: []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), rolledBack(""),
		deploy(Release{Name: "C"})},
	target:  "A",
	skipped: []string{"B"},
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 3 (release C) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 3 (release C) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:3 (release C) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:3 (release C): would deregister",
		"ecs task definition {p}worker:3 (release C): would deregister",
	},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name:   "a release applied twice is one release",
	steps:  []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), deploy(Release{Name: "B"})},
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 3 (release B) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 3 (release B) to version 1 (release A)",
		"ecs service {p}tasks/{p}worker: would move from {p}worker:3 (release B) to {p}worker:1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
		"ecs task definition {p}planner:3 (release B): would deregister",
		"ecs task definition {p}worker:2 (release B): would deregister",
		"ecs task definition {p}worker:3 (release B): would deregister",
	},
	after: state{gatekeeper: 1, logshipper: 1, service: "{p}worker:1", active: []string{"{p}planner:1 A", "{p}worker:1 A"}},
}, {
	name:   "no worker service",
	steps:  []step{deploy(Release{Name: "A", NoWorker: true}), deploy(Release{Name: "B", NoWorker: true})},
	target: "A",
	lines: []string{
		"lambda {p}gatekeeper: would move alias live from version 2 (release B) to version 1 (release A)",
		"lambda {p}logshipper: would move alias live from version 2 (release B) to version 1 (release A)",
		"ecs task definition {p}planner:2 (release B): would deregister",
	},
	notes: []string{"ecs service {p}tasks/{p}worker: not found"},
	after: state{gatekeeper: 1, logshipper: 1, active: []string{"{p}planner:1 A"}},
}, {
	name:    "nothing to roll back to",
	steps:   []step{deploy(Release{Name: "A"})},
	wantErr: rollback.ErrNothingToRollBack,
}, {
	name:    "--to a release the gatekeeper never had",
	steps:   []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"})},
	to:      "Z",
	wantErr: rollback.ErrNothingToRollBack,
}, {
	name:    "--to a newer release",
	steps:   []step{deploy(Release{Name: "A"}), deploy(Release{Name: "B"}), rolledBack("")},
	to:      "B",
	wantErr: rollback.ErrNothingToRollBack,
}, {
	name:    "no deployment with this prefix",
	wantErr: rollback.ErrNotFound,
}}

// Features switch off what a backend cannot do.
type Features struct {
	// NoRevisionID: the backend ignores an alias update's revision id
	// (moto 5.2.1), so a stale one is not ErrConflict.
	NoRevisionID bool
	// EmptyVersionsOfMissingFunction: the backend lists no versions of a
	// function that does not exist instead of failing (moto 5.2.1).
	EmptyVersionsOfMissingFunction bool
}

// Exercise runs every scenario of the suite against the adapter
// newHarness returns, each on a deployment of its own: the plan (target,
// changes, notes), then the state after applying it, read back through
// the ports, then that planning again changes nothing.
func Exercise(t *testing.T, f Features, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx, cancel := context.WithTimeout(t.Context(), Timeout)
			defer cancel()
			p := NewPrefix()
			run(ctx, t, h, p, sc)
		})
	}
	t.Run("ports", func(t *testing.T) { ports(t, f, newHarness(t)) })
}

func run(ctx context.Context, t *testing.T, h Harness, p string, sc scenario) {
	d := rollback.Deployment{Prefix: p}
	for _, s := range sc.steps {
		if s.deploy != nil {
			Deploy(t, h.Seed, p, *s.deploy)
			continue
		}
		plan, err := rollback.MakePlan(ctx, h.Ports, rollback.Deployment{Prefix: p, To: *s.rollback})
		if err != nil {
			t.Fatalf("planning an earlier rollback: %v", err)
		}
		if err := rollback.Apply(ctx, h.Ports, plan, nil); err != nil {
			t.Fatalf("applying an earlier rollback: %v", err)
		}
	}
	d.To = sc.to
	plan, err := rollback.MakePlan(ctx, h.Ports, d)
	if sc.wantErr != nil {
		if !errors.Is(err, sc.wantErr) {
			t.Fatalf("MakePlan: %v; want an error wrapping %v", err, sc.wantErr)
		}
		if before := read(ctx, t, h.Ports, p); len(sc.steps) > 0 && before.gatekeeper == 0 {
			t.Fatalf("the deployment is gone: %+v", before)
		}
		return
	}
	if err != nil {
		t.Fatalf("MakePlan: %v", err)
	}
	if plan.Target != sc.target || plan.Resumed != sc.resumed || !slices.Equal(plan.Skipped, sc.skipped) {
		t.Errorf("target %q, resumed %q, skipped %q; want %q, %q, %q", plan.Target, plan.Resumed, plan.Skipped, sc.target, sc.resumed, sc.skipped)
	}
	var lines []string
	for _, c := range plan.Changes {
		lines = append(lines, c.Line(true))
	}
	if want := expand(sc.lines, p); !slices.Equal(lines, want) {
		t.Errorf("planned changes:\n  %s\nwant:\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
	for _, n := range expand(sc.notes, p) {
		if !slices.ContainsFunc(plan.Notes, func(s string) bool { return strings.Contains(s, n) }) {
			t.Errorf("no note contains %q; notes:\n  %s", n, strings.Join(plan.Notes, "\n  "))
		}
	}
	// Planning changed nothing.
	if t.Failed() {
		return
	}
	var done []string
	if err := rollback.Apply(ctx, h.Ports, plan, func(c rollback.Change) { done = append(done, c.Line(true)) }); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !slices.Equal(done, lines) {
		t.Errorf("Apply reported %q, want %q", done, lines)
	}
	got := read(ctx, t, h.Ports, p)
	want := sc.after
	want.service = strings.ReplaceAll(want.service, "{p}", p)
	want.active = expand(want.active, p)
	if got.gatekeeper != want.gatekeeper || got.logshipper != want.logshipper || got.service != want.service || !slices.Equal(got.active, want.active) {
		t.Errorf("after the rollback:\n  %+v\nwant\n  %+v", got, want)
	}
	if len(plan.Changes) > 0 {
		a, err := h.Ports.Functions.Alias(ctx, d.Gatekeeper(), rollback.Alias)
		if wantDesc := fmt.Sprintf("rolled back from release %s to release %s by deployer rollback", plan.Changes[0].FromRelease, plan.Target); err != nil || a.Description != wantDesc {
			t.Errorf("gatekeeper alias description %q (%v), want %q", a.Description, err, wantDesc)
		}
	}
	// Once is enough: a second run finishes nothing and goes no further.
	again, err := rollback.MakePlan(ctx, h.Ports, rollback.Deployment{Prefix: p})
	if err != nil {
		t.Fatalf("planning again: %v", err)
	}
	if len(again.Changes) != 0 || again.Target != plan.Target {
		t.Errorf("planning again: target %q, changes %v; want %q and none", again.Target, again.Changes, plan.Target)
	}
}

// read returns the state of deployment p.
func read(ctx context.Context, t *testing.T, ports rollback.Ports, p string) state {
	t.Helper()
	d := rollback.Deployment{Prefix: p}
	var s state
	for fn, v := range map[string]*int{d.Gatekeeper(): &s.gatekeeper, d.Logshipper(): &s.logshipper} {
		a, err := ports.Functions.Alias(ctx, fn, rollback.Alias)
		if err != nil && !errors.Is(err, rollback.ErrNotFound) {
			t.Fatalf("reading alias of %s: %v", fn, err)
		}
		*v = a.Version
	}
	svc, err := ports.Tasks.ServiceTaskDefinition(ctx, p+"tasks", d.WorkerService())
	if err != nil && !errors.Is(err, rollback.ErrNotFound) {
		t.Fatalf("reading the worker service: %v", err)
	}
	if f, r, ok := rollback.ParseTaskDefinition(svc); ok {
		s.service = fmt.Sprintf("%s:%d", f, r)
	}
	arns, err := ports.Tasks.ActiveTaskDefinitions(ctx)
	if err != nil {
		t.Fatalf("listing task definitions: %v", err)
	}
	for _, arn := range arns {
		if f, _, ok := rollback.ParseTaskDefinition(arn); !ok || !strings.HasPrefix(f, p) {
			continue
		}
		td, err := ports.Tasks.DescribeTaskDefinition(ctx, arn)
		if err != nil {
			t.Fatalf("describing %s: %v", arn, err)
		}
		if td.Active && td.Tags[rollback.TagDeployment] == p {
			s.active = append(s.active, td.Name()+" "+td.Release())
		}
	}
	slices.Sort(s.active)
	return s
}

func expand(lines []string, p string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strings.ReplaceAll(l, "{p}", p))
	}
	return out
}

// ports checks the ports' contract where the scenarios do not: missing
// things are ErrNotFound, versions come lowest first without $LATEST,
// tags are read, a revision deregistered twice is no error, and a stale
// alias revision is ErrConflict.
func ports(t *testing.T, f Features, h Harness) {
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	p := NewPrefix()
	fn := p + "gatekeeper"
	if _, err := h.Ports.Functions.Alias(ctx, fn, rollback.Alias); !errors.Is(err, rollback.ErrNotFound) {
		t.Errorf("Alias of a missing function: %v, want ErrNotFound", err)
	}
	if vs, err := h.Ports.Functions.Versions(ctx, fn); !errors.Is(err, rollback.ErrNotFound) && (!f.EmptyVersionsOfMissingFunction || err != nil || len(vs) > 0) {
		t.Errorf("Versions of a missing function: %v, %v; want ErrNotFound", vs, err)
	}
	v1 := h.Seed.Publish(t, fn, "A")
	v2 := h.Seed.Publish(t, fn, "B")
	if _, err := h.Ports.Functions.Alias(ctx, fn, rollback.Alias); !errors.Is(err, rollback.ErrNotFound) {
		t.Errorf("Alias of a function without one: %v, want ErrNotFound", err)
	}
	h.Seed.SetAlias(t, fn, v2, "deployer release B")
	vs, err := h.Ports.Functions.Versions(ctx, fn)
	want := []rollback.Version{{Number: v1, Description: "deployer release A"}, {Number: v2, Description: "deployer release B"}}
	if err != nil || !slices.Equal(vs, want) {
		t.Errorf("Versions: %v, %v; want %v", vs, err, want)
	}
	a, err := h.Ports.Functions.Alias(ctx, fn, rollback.Alias)
	if err != nil || a.Version != v2 || a.Description != "deployer release B" {
		t.Fatalf("Alias: %+v, %v", a, err)
	}
	if err := h.Ports.Functions.UpdateAlias(ctx, fn, rollback.Alias, rollback.AliasUpdate{Version: v1, Description: "back", RevisionID: a.RevisionID}); err != nil {
		t.Fatalf("UpdateAlias: %v", err)
	}
	if b, err := h.Ports.Functions.Alias(ctx, fn, rollback.Alias); err != nil || b.Version != v1 || b.Description != "back" {
		t.Errorf("Alias after UpdateAlias: %+v, %v", b, err)
	}
	if !f.NoRevisionID {
		err := h.Ports.Functions.UpdateAlias(ctx, fn, rollback.Alias, rollback.AliasUpdate{Version: v2, Description: "stale", RevisionID: a.RevisionID})
		if !errors.Is(err, rollback.ErrConflict) {
			t.Errorf("UpdateAlias with a stale revision id: %v, want ErrConflict", err)
		}
	}

	tags := map[string]string{rollback.TagRelease: "A", rollback.TagDeployment: p}
	arn := h.Seed.Register(t, p+"fam", tags)
	td, err := h.Ports.Tasks.DescribeTaskDefinition(ctx, arn)
	if err != nil || td.ARN != arn || td.Family != p+"fam" || td.Revision != 1 || !td.Active || td.Release() != "A" || td.Tags[rollback.TagDeployment] != p {
		t.Errorf("DescribeTaskDefinition: %+v, %v", td, err)
	}
	if arns, err := h.Ports.Tasks.ActiveTaskDefinitions(ctx); err != nil || !slices.Contains(arns, arn) {
		t.Errorf("ActiveTaskDefinitions lacks %s: %v", arn, err)
	}
	if _, err := h.Ports.Tasks.ServiceTaskDefinition(ctx, p+"tasks", p+"worker"); !errors.Is(err, rollback.ErrNotFound) {
		t.Errorf("ServiceTaskDefinition of a missing cluster: %v, want ErrNotFound", err)
	}
	h.Seed.SetService(t, p+"tasks", p+"other", arn)
	if _, err := h.Ports.Tasks.ServiceTaskDefinition(ctx, p+"tasks", p+"worker"); !errors.Is(err, rollback.ErrNotFound) {
		t.Errorf("ServiceTaskDefinition of a missing service: %v, want ErrNotFound", err)
	}
	arn2 := h.Seed.Register(t, p+"fam", tags)
	if err := h.Ports.Tasks.UpdateService(ctx, p+"tasks", p+"other", arn2); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	if got, err := h.Ports.Tasks.ServiceTaskDefinition(ctx, p+"tasks", p+"other"); err != nil || !sameRevision(got, arn2) {
		t.Errorf("ServiceTaskDefinition after UpdateService: %q, %v; want %s", got, err, arn2)
	}
	for range 2 {
		if err := h.Ports.Tasks.DeregisterTaskDefinition(ctx, arn); err != nil {
			t.Fatalf("DeregisterTaskDefinition: %v", err)
		}
	}
	if arns, err := h.Ports.Tasks.ActiveTaskDefinitions(ctx); err != nil || slices.Contains(arns, arn) {
		t.Errorf("ActiveTaskDefinitions still lists %s: %v", arn, err)
	}
	if td, err := h.Ports.Tasks.DescribeTaskDefinition(ctx, arn); err == nil && td.Active {
		t.Errorf("DescribeTaskDefinition of a deregistered revision: %+v, want it INACTIVE", td)
	}
	if _, err := h.Ports.Tasks.DescribeTaskDefinition(ctx, strings.TrimSuffix(arn, ":1")+":99"); !errors.Is(err, rollback.ErrNotFound) {
		t.Errorf("DescribeTaskDefinition of a missing revision: %v, want ErrNotFound", err)
	}
}

func sameRevision(a, b string) bool {
	fa, ra, oka := rollback.ParseTaskDefinition(a)
	fb, rb, okb := rollback.ParseTaskDefinition(b)
	return oka && okb && fa == fb && ra == rb
}
