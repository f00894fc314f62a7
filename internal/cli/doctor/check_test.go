package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// plan is how a fake canary goes: the events and lines its follower
// sees, and its terminal event (none: it never ends).
type plan struct {
	submitErr error
	events    []schemas.EventType
	lines     []string
	terminal  *schemas.JobEvent
}

// fake is a Deployment whose every answer the test sets.
type fake struct {
	missing, denied, broken map[string]bool
	desc                    producer.Description
	descErr                 error
	silent                  bool // the gatekeeper never answers
	plans                   map[string]plan
	// barrier, when set, holds every canary's follow until that many
	// follow at once: canaries run concurrently.
	barrier *barrier

	mu        sync.Mutex
	submitted []string
}

type barrier struct {
	n    int
	mu   sync.Mutex
	in   int
	open chan struct{}
}

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	b.in++
	if b.in == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fake) Where() string                { return "the fake" }
func (f *fake) QueueName(name string) string { return "p-" + name }
func (f *fake) QueueAction() string          { return "sqs:GetQueueUrl" }
func (f *fake) Hints() Hints {
	return Hints{GatekeeperSilent: "HINT-SILENT", NotStarted: "HINT-NOT-STARTED", QueueMissing: "HINT-QUEUE", TaskDefinition: "HINT-TD"}
}

func (f *fake) OpenQueue(_ context.Context, name string) error {
	switch {
	case f.missing[name]:
		return fmt.Errorf("opening queue %s: %w", name, queue.ErrNotFound)
	case f.denied[name]:
		return fmt.Errorf("opening queue %s: %w: AccessDenied", name, queue.ErrDenied)
	case f.broken[name]:
		return fmt.Errorf("opening queue %s: %w: ThrottlingException", name, queue.ErrThrottled)
	}
	return nil
}

func (f *fake) Describe(ctx context.Context) (producer.Description, error) {
	if f.silent {
		<-ctx.Done()
		return producer.Description{}, ctx.Err()
	}
	return f.desc, f.descErr
}

func (f *fake) Canary(_ context.Context, container string, _ time.Duration) (producer.Job, error) {
	f.mu.Lock()
	f.submitted = append(f.submitted, container)
	f.mu.Unlock()
	if err := f.plans[container].submitErr; err != nil {
		return producer.Job{}, err
	}
	return producer.Job{ID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E-" + container, Stream: container}, nil
}

func (f *fake) Follow(ctx context.Context, job producer.Job, opts producer.FollowOptions) (producer.FollowResult, error) {
	if f.barrier != nil {
		if err := f.barrier.wait(ctx); err != nil {
			return producer.FollowResult{}, err
		}
	}
	p := f.plans[job.Stream]
	for _, t := range p.events {
		opts.OnEvent(schemas.JobEvent{JobID: job.ID, Type: t})
	}
	for i, l := range p.lines {
		opts.OnLine(1, schemas.LogLine{Seq: int64(i + 1), Text: l})
	}
	if p.terminal == nil {
		<-ctx.Done()
		return producer.FollowResult{}, ctx.Err()
	}
	term := *p.terminal
	term.JobID = job.ID
	opts.OnEvent(term)
	return producer.FollowResult{Terminal: term}, nil
}

func describeOf(containers ...string) producer.Description {
	d := producer.Description{Principal: "arn:aws:iam::1:role/ci", PolicyDigest: "sha256:0123456789ab", Features: []string{schemas.FeatureCanary}}
	for _, c := range containers {
		lane := "default"
		if c == "packer" {
			lane = "amis"
		}
		d.Containers = append(d.Containers, schemas.ContainerInfo{Name: c, Lane: lane, Scripts: []schemas.ScriptInfo{{Name: "plan"}}})
	}
	return d
}

func succeeded(version string) plan {
	return plan{events: []schemas.EventType{schemas.EventAccepted, schemas.EventQueued, schemas.EventStarted},
		lines: []string{schemas.CanaryVersionPrefix + version}, terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeSucceeded}}
}

func healthy() *fake {
	return &fake{desc: describeOf("infra", "packer"), plans: map[string]plan{"infra": succeeded("v1.2.3"), "packer": succeeded("v1.2.3")}}
}

var reached = Result{Check: CheckReach, Subject: "the fake", Status: StatusOK, Message: "answered"}

func doctor(t *testing.T, f *fake, cfg Config) Report {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return Run(t.Context(), f, reached, cfg)
}

// find returns the results of a check.
func find(rep Report, check string) []Result {
	var out []Result
	for _, r := range rep.Results {
		if r.Check == check {
			out = append(out, r)
		}
	}
	return out
}

func TestHealthyDeploymentPasses(t *testing.T) {
	f := healthy()
	rep := doctor(t, f, Config{})
	if code := rep.ExitCode(); code != 0 {
		t.Fatalf("exit %d: %+v", code, rep.Results)
	}
	var order []string
	for _, r := range rep.Results {
		if len(order) == 0 || order[len(order)-1] != r.Check {
			order = append(order, r.Check)
		}
	}
	if got := strings.Join(order, ","); got != "reach,queues,gatekeeper,permissions,canary" {
		t.Errorf("checks in the order %s", got)
	}
	var queues []string
	for _, r := range find(rep, CheckQueues) {
		queues = append(queues, r.Subject)
	}
	if got := strings.Join(queues, ","); got != "p-requests,p-requests-dlq,p-runs-dlq,p-runs-lane-_cancel,p-runs-lane-amis,p-runs-lane-default" {
		t.Errorf("queues checked: %s", got)
	}
	gk := find(rep, CheckGatekeeper)[0]
	if gk.PolicyDigest != "sha256:0123456789ab" || gk.Principal != "arn:aws:iam::1:role/ci" || len(gk.MayRun["infra"]) != 1 ||
		!strings.Contains(gk.Message, "sha256:0123456789ab") || !strings.Contains(gk.Message, "infra (plan)") {
		t.Errorf("gatekeeper %+v", gk)
	}
	if p := find(rep, CheckPermissions); len(p) != 1 || p[0].Status != StatusSkip {
		t.Errorf("permissions without a checker: %+v, want skipped", p)
	}
	canaries := find(rep, CheckCanary)
	if len(canaries) != 2 {
		t.Fatalf("canaries %+v", canaries)
	}
	for _, c := range canaries {
		if c.Status != StatusOK || c.Version != "v1.2.3" || c.JobID == "" || !strings.Contains(c.Message, "deployer-task v1.2.3 (job ") {
			t.Errorf("canary %+v", c)
		}
	}
}

// Each failure has its cause and exit code; the report's exit code is
// the first failed check's, in check order.
func TestFailuresAndTheirExitCodes(t *testing.T) {
	missingTD := &schemas.JobEvent{Type: schemas.EventFailed, Outcome: schemas.OutcomeCouldNotStart, ReasonCode: worker.ReasonTaskDefinitionMissing,
		Reason: "could not start: RunTask: ClientException: Unable to find task definition."}
	for _, tt := range []struct {
		name   string
		change func(*fake, *Config)
		check  string
		cause  string
		says   []string
	}{
		{"request queue missing", func(f *fake, _ *Config) { f.missing = map[string]bool{topology.RequestQueue: true} },
			CheckQueues, CauseQueueMissing, []string{"p-requests does not exist", "request queue"}},
		{"lane queue missing", func(f *fake, _ *Config) { f.missing = map[string]bool{topology.LaneQueue("amis"): true} },
			CheckQueues, CauseQueueMissing, []string{"p-runs-lane-amis does not exist", "lane amis"}},
		{"queue denied", func(f *fake, _ *Config) { f.denied = map[string]bool{topology.RunDLQ: true} },
			CheckQueues, CausePermissionMissing, []string{"sqs:GetQueueUrl on p-runs-dlq was denied"}},
		{"queue not answering", func(f *fake, _ *Config) { f.broken = map[string]bool{topology.RequestDLQ: true} },
			CheckQueues, CauseUnreachable, []string{"p-requests-dlq could not be looked up", "ThrottlingException"}},
		{"gatekeeper silent", func(f *fake, c *Config) { f.silent, c.Timeout = true, 50*time.Millisecond },
			CheckGatekeeper, CauseGatekeeperNotAnswering, []string{"no answer within 50ms", "p-requests"}},
		{"identity refused", func(f *fake, _ *Config) {
			f.descErr = fmt.Errorf("%w: caller identity could not be verified (caller_unknown)", producer.ErrDescribeRejected)
		}, CheckGatekeeper, CauseNothingAllowed, []string{"refused to say what you may run", "caller_unknown"}},
		{"nothing allowed", func(f *fake, _ *Config) { f.desc = describeOf() },
			CheckGatekeeper, CauseNothingAllowed, []string{"arn:aws:iam::1:role/ci may run nothing", "sha256:0123456789ab"}},
		{"describe denied", func(f *fake, _ *Config) { f.descErr = fmt.Errorf("enqueueing describe request: %w", queue.ErrDenied) },
			CheckGatekeeper, CausePermissionMissing, []string{"could not be sent"}},
		{"task definition missing", func(f *fake, _ *Config) { f.plans["packer"] = plan{terminal: missingTD} },
			CheckCanary, CauseTaskDefinitionMissing, []string{"container packer could not start", "Unable to find task definition"}},
		{"task definition missing, an older worker's words", func(f *fake, _ *Config) {
			f.plans["packer"] = plan{terminal: &schemas.JobEvent{Type: schemas.EventFailed, Outcome: schemas.OutcomeCouldNotStart,
				ReasonCode: "could_not_start", Reason: "could not start: ClientException: TaskDefinition is inactive"}}
		}, CheckCanary, CauseTaskDefinitionMissing, []string{"TaskDefinition is inactive"}},
		{"exits non-zero", func(f *fake, _ *Config) {
			code := 3
			f.plans["packer"] = plan{lines: []string{"usage: packer"}, terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeFailed, ExitCode: &code}}
		}, CheckCanary, CauseCanaryFailed, []string{"exited with code 3", `"usage: packer"`}},
		{"no version", func(f *fake, _ *Config) {
			f.plans["packer"] = plan{lines: []string{"hello"}, terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeSucceeded}}
		}, CheckCanary, CauseCanaryFailed, []string{"without printing a deployer-task version", `it printed "hello"`}},
		{"not forwarded", func(f *fake, _ *Config) {
			f.plans["packer"] = plan{terminal: &schemas.JobEvent{Type: schemas.EventFailed, Outcome: schemas.OutcomeCouldNotStart,
				ReasonCode: gatekeeper.ReasonNotForwarded, Reason: "could not forward it: AccessDenied on runs-lane-amis"}}
		}, CheckCanary, CauseCanaryFailed, []string{"accepted but never queued", "AccessDenied"}},
		{"queued, never started", func(f *fake, c *Config) {
			f.plans["packer"] = plan{events: []schemas.EventType{schemas.EventAccepted, schemas.EventQueued}}
			c.Timeout = 100 * time.Millisecond
		}, CheckCanary, CauseCanaryFailed, []string{"queued, but no worker started it within 100ms"}},
		{"accepted, never queued", func(f *fake, c *Config) {
			f.plans["packer"] = plan{events: []schemas.EventType{schemas.EventAccepted}}
			c.Timeout = 100 * time.Millisecond
		}, CheckCanary, CauseCanaryFailed, []string{"accepted the canary but never queued it"}},
		{"rejected by an older gatekeeper", func(f *fake, _ *Config) {
			f.plans["packer"] = plan{terminal: &schemas.JobEvent{Type: schemas.EventRejected, Outcome: schemas.OutcomeRejected,
				ReasonCode: gatekeeper.ReasonMalformed, Reason: "request could not be read: script is empty"}}
		}, CheckCanary, CauseCanaryFailed, []string{"rejected the canary [malformed_request]"}},
		{"container not allowed", func(_ *fake, c *Config) { c.Containers = []string{"nope"} },
			CheckCanary, CauseNothingAllowed, []string{"you may not run container nope"}},
		{"permission finding", func(_ *fake, c *Config) {
			c.Permissions = checker{findings: []Finding{{Subject: "role deployer-gatekeeper", Message: "lacks sqs:SendMessage on runs-lane-*"}}}
		}, CheckPermissions, CausePermissionMissing, []string{"lacks sqs:SendMessage"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := healthy()
			var cfg Config
			tt.change(f, &cfg)
			rep := doctor(t, f, cfg)
			first, ok := rep.First()
			if !ok {
				t.Fatalf("nothing failed: %+v", rep.Results)
			}
			if first.Check != tt.check || first.Cause != tt.cause || rep.ExitCode() != CauseCode(tt.cause) || first.ExitCode != CauseCode(tt.cause) {
				t.Fatalf("first failure %+v (exit %d), want %s: %s (exit %d)", first, rep.ExitCode(), tt.check, tt.cause, CauseCode(tt.cause))
			}
			for _, s := range tt.says {
				if !strings.Contains(first.Message+" "+first.Fix, s) {
					t.Errorf("message %q (fix %q) does not say %q", first.Message, first.Fix, s)
				}
			}
		})
	}
}

type checker struct {
	findings []Finding
	err      error
}

func (c checker) Check(context.Context) ([]Finding, error) { return c.findings, c.err }

// Hints of the backend follow the failures they explain.
func TestFailuresCarryTheBackendsHints(t *testing.T) {
	f := healthy()
	f.silent = true
	rep := doctor(t, f, Config{Timeout: 20 * time.Millisecond})
	if gk := find(rep, CheckGatekeeper)[0]; gk.Fix != "HINT-SILENT" {
		t.Errorf("gatekeeper fix %q", gk.Fix)
	}
	f = healthy()
	f.missing = map[string]bool{topology.RunDLQ: true}
	f.plans["infra"] = plan{terminal: &schemas.JobEvent{Type: schemas.EventFailed, Outcome: schemas.OutcomeCouldNotStart, ReasonCode: worker.ReasonTaskDefinitionMissing}}
	rep = doctor(t, f, Config{})
	if q := find(rep, CheckQueues)[2]; q.Fix != "HINT-QUEUE" {
		t.Errorf("queue fix %q", q.Fix)
	}
	if c := find(rep, CheckCanary)[0]; c.Fix != "HINT-TD" {
		t.Errorf("canary fix %q", c.Fix)
	}
}

// Doctor runs every check it can and reports every failure; the exit
// code is the first's: a missing lane queue (80) before a failed canary
// (85).
func TestEveryFailureIsReportedTheFirstDecides(t *testing.T) {
	f := healthy()
	f.missing = map[string]bool{topology.LaneQueue("default"): true}
	code := 1
	f.plans["infra"] = plan{terminal: &schemas.JobEvent{Type: schemas.EventFinished, Outcome: schemas.OutcomeFailed, ExitCode: &code}}
	rep := doctor(t, f, Config{})
	if rep.ExitCode() != 80 {
		t.Errorf("exit %d, want 80", rep.ExitCode())
	}
	var fails []string
	for _, r := range rep.Results {
		if r.Status == StatusFail {
			fails = append(fails, r.Check+":"+r.Cause)
		}
	}
	if got := strings.Join(fails, " "); got != "queues:queue_missing canary:canary_failed" {
		t.Errorf("failures %s", got)
	}
}

// What depends on a failed check is skipped, saying why.
func TestDependentChecksAreSkipped(t *testing.T) {
	f := healthy()
	f.missing = map[string]bool{topology.RequestQueue: true}
	rep := doctor(t, f, Config{})
	for _, c := range []string{CheckGatekeeper, CheckCanary} {
		if r := find(rep, c); len(r) != 1 || r[0].Status != StatusSkip || r[0].Message == "" {
			t.Errorf("%s: %+v, want skipped with a reason", c, r)
		}
	}
	rep = Run(t.Context(), f, Result{Check: CheckReach, Status: StatusFail, Cause: CauseUnreachable, ExitCode: 69, Message: "no route"}, Config{Timeout: time.Second})
	if rep.ExitCode() != 69 || len(rep.Results) != 5 {
		t.Fatalf("unreachable: exit %d, %+v", rep.ExitCode(), rep.Results)
	}
	for _, r := range rep.Results[1:] {
		if r.Status != StatusSkip {
			t.Errorf("%s ran on an unreachable backend", r.Check)
		}
	}
	rep = doctor(t, healthy(), Config{SkipCanary: true})
	if c := find(rep, CheckCanary); len(c) != 1 || c[0].Status != StatusSkip || rep.ExitCode() != 0 {
		t.Errorf("--skip-canary: %+v", c)
	}
	// A gatekeeper that predates canaries would dead-letter them: none
	// is sent, and doctor says why.
	f = healthy()
	f.desc.Features = nil
	rep = doctor(t, f, Config{})
	if c := find(rep, CheckCanary); len(c) != 1 || c[0].Status != StatusSkip || !strings.Contains(c[0].Message, "predates canaries") || len(f.submitted) != 0 {
		t.Errorf("an older gatekeeper: %+v, submitted %v", c, f.submitted)
	}
}

// Canaries run at once, each within the timeout: the fake holds each
// follow until all of them follow.
func TestCanariesRunConcurrently(t *testing.T) {
	f := healthy()
	f.desc = describeOf("a", "b", "c", "d")
	for _, c := range []string{"a", "b", "c", "d"} {
		f.plans[c] = succeeded("v2")
	}
	f.barrier = &barrier{n: 4, open: make(chan struct{})}
	rep := doctor(t, f, Config{Timeout: 10 * time.Second})
	if rep.ExitCode() != 0 || len(find(rep, CheckCanary)) != 4 {
		t.Fatalf("exit %d, %+v", rep.ExitCode(), find(rep, CheckCanary))
	}
	// --container limits them, once each.
	f = healthy()
	rep = doctor(t, f, Config{Containers: []string{"packer", "packer"}})
	if c := find(rep, CheckCanary); len(c) != 1 || c[0].Subject != "packer" || len(f.submitted) != 1 {
		t.Errorf("--container packer: %+v, submitted %v", c, f.submitted)
	}
}

func TestTextAndJSONReports(t *testing.T) {
	f := healthy()
	f.missing = map[string]bool{topology.LaneQueue("amis"): true}
	rep := doctor(t, f, Config{})
	var text bytes.Buffer
	WriteText(&text, "deployer", rep)
	lines := strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n")
	for _, want := range []string{
		"deployer doctor: the fake",
		"queues       ok    p-requests, p-requests-dlq, p-runs-dlq, p-runs-lane-_cancel, p-runs-lane-default exist",
		"queues       FAIL  p-runs-lane-amis does not exist",
		"[queue_missing, exit 80]",
		"fix: HINT-QUEUE",
		"canary       ok    infra: deployer-task v1.2.3 (job ",
		"permissions  skip  skipped: no IAM policy check",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "deployer doctor: FAIL, exit 80: queue_missing") {
		t.Errorf("last line %q", last)
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Backend  string `json:"backend"`
		Verdict  string `json:"verdict"`
		ExitCode int    `json:"exit_code"`
		Cause    string `json:"cause"`
		Checks   []map[string]any
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "fail" || doc.ExitCode != 80 || doc.Cause != CauseQueueMissing || len(doc.Checks) != len(rep.Results) {
		t.Fatalf("json %s", js.String())
	}
	for _, c := range doc.Checks {
		for _, k := range []string{"name", "subject", "status", "exit_code", "message", "duration"} {
			if _, ok := c[k]; !ok {
				t.Errorf("check %v lacks %s", c, k)
			}
		}
	}

	var pass bytes.Buffer
	WriteText(&pass, "deployer", doctor(t, healthy(), Config{}))
	if !strings.HasSuffix(pass.String(), "deployer doctor: PASS, exit 0: 10 checks passed, 1 skipped\n") {
		t.Errorf("passing report:\n%s", pass.String())
	}
}

// A permission check that could not run, or a right it could not judge,
// is said and is no failure: it is not evidence of a missing right, and
// the canaries still prove what the pipeline can do.
func TestPermissionsNotCheckedAreSaidNotFailed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		checker checker
		want    []string
	}{
		{"check failed", checker{err: errors.New("sts:GetCallerIdentity: connection refused")},
			[]string{"not checked: the IAM policies could not be read", "connection refused"}},
		{"a right not judged", checker{findings: []Finding{{Subject: "caller (user/moto)", Message: "IAM does not know user/moto", Unchecked: true}}},
			[]string{"holds the rights it needs (of those that could be checked)", "not checked: IAM does not know user/moto"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := doctor(t, healthy(), Config{Permissions: tt.checker})
			if first, failed := rep.First(); failed || rep.ExitCode() != 0 {
				t.Fatalf("exit %d, first failure %+v: want a pass", rep.ExitCode(), first)
			}
			var said []string
			for _, r := range rep.Results {
				if r.Check == CheckPermissions {
					said = append(said, r.Message)
				}
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(said, func(m string) bool { return strings.Contains(m, w) }) {
					t.Errorf("permissions said %q, want %q among them", said, w)
				}
			}
		})
	}
}
