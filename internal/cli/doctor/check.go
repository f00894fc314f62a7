package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// Deployment is what doctor checks, on either backend: the calls it makes
// and what the backend can say about their failures. The backend adapter
// (see open) is the one implementation besides the tests' fakes.
type Deployment interface {
	// Where names the deployment ("state directory /x", "AWS deployment
	// in us-east-1 with prefix "deployer-"").
	Where() string
	// QueueName is the name of a topology queue as the backend names it
	// (with the AWS prefix).
	QueueName(name string) string
	// OpenQueue proves that a queue exists and may be looked at: nil, or
	// an error wrapping queue.ErrNotFound or queue.ErrDenied, or why it
	// could not tell. QueueAction names the call it makes
	// ("sqs:GetQueueUrl"), for a denial's message.
	OpenQueue(ctx context.Context, name string) error
	QueueAction() string
	// Describe asks the gatekeeper, through the request queue, what the
	// caller may run.
	Describe(ctx context.Context) (producer.Description, error)
	// Canary submits a canary of container and returns its job.
	Canary(ctx context.Context, container string, maxWait time.Duration) (producer.Job, error)
	// Follow follows a job to its end (producer.Client.Follow).
	Follow(ctx context.Context, job producer.Job, opts producer.FollowOptions) (producer.FollowResult, error)
	// Hints says what the usual causes of a failure are on this backend.
	Hints() Hints
}

// Hints are a backend's words for what usually causes a failure, and what
// to look at.
type Hints struct {
	// GatekeeperSilent follows "the gatekeeper did not answer within T".
	GatekeeperSilent string
	// NotStarted follows "the canary was queued but no worker started it".
	NotStarted string
	// QueueMissing follows "queue Q does not exist".
	QueueMissing string
	// TaskDefinition follows "the task definition of container C is
	// missing": what defines a container's task on this backend.
	TaskDefinition string
}

// Config tunes Run.
type Config struct {
	// Timeout bounds the gatekeeper's answer, and each canary from its
	// submission to its end.
	Timeout time.Duration
	// Containers limits the canaries to these containers (all the caller
	// may run when empty).
	Containers []string
	// SkipCanary runs no canary.
	SkipCanary bool
	// Permissions checks the deployment's IAM policies; nil skips it.
	Permissions PermissionChecker
	// Now is the clock, for durations. Defaults to time.Now.
	Now func() time.Time
}

// The checks, in the order they run and decide the exit code.
const (
	CheckReach       = "reach"
	CheckQueues      = "queues"
	CheckGatekeeper  = "gatekeeper"
	CheckPermissions = "permissions"
	CheckCanary      = "canary"
)

// Status is how a check ended.
type Status string

// Statuses.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Result is one check of one subject (a queue, a container, the
// backend).
type Result struct {
	Check    string           `json:"name"`
	Subject  string           `json:"subject"`
	Status   Status           `json:"status"`
	Cause    string           `json:"cause,omitempty"`
	ExitCode int              `json:"exit_code"`
	Message  string           `json:"message"`
	Fix      string           `json:"fix,omitempty"`
	Duration schemas.Duration `json:"duration"`
	// The gatekeeper's answer.
	PolicyDigest string              `json:"policy_digest,omitempty"`
	Principal    string              `json:"principal,omitempty"`
	MayRun       map[string][]string `json:"may_run,omitempty"`
	// A canary's job and the version it reported.
	JobID   string `json:"job_id,omitempty"`
	Version string `json:"version,omitempty"`
}

// fail sets r's failure.
func (r *Result) fail(cause, message, fix string) {
	r.Status, r.Cause, r.ExitCode, r.Message, r.Fix = StatusFail, cause, CauseCode(cause), message, fix
}

// Report is what doctor found: every check's results, in check order.
type Report struct {
	Where   string   `json:"backend"`
	Results []Result `json:"checks"`
}

// First returns the first failed result, in check order.
func (r Report) First() (Result, bool) {
	for _, res := range r.Results {
		if res.Status == StatusFail {
			return res, true
		}
	}
	return Result{}, false
}

// ExitCode is the exit code of the first failed check, 0 when none
// failed.
func (r Report) ExitCode() int {
	if f, ok := r.First(); ok {
		return f.ExitCode
	}
	return 0
}

// run carries one doctor run.
type run struct {
	d   Deployment
	cfg Config
}

func (r *run) now() time.Time {
	if r.cfg.Now != nil {
		return r.cfg.Now()
	}
	return time.Now()
}

// timed returns a result of check and subject whose duration is measured
// from now until done is called.
func (r *run) timed(check, subject string) (*Result, func()) {
	res := &Result{Check: check, Subject: subject, Status: StatusOK}
	start := r.now()
	return res, func() { res.Duration = schemas.Duration(r.now().Sub(start).Round(time.Millisecond)) }
}

// Run runs every check it can on a deployment that could be reached
// (reach is that check's result), in order: queues, gatekeeper,
// permissions, canaries. A check that depends on one that failed is
// skipped, saying so.
func Run(ctx context.Context, d Deployment, reach Result, cfg Config) Report {
	r := &run{d: d, cfg: cfg}
	rep := Report{Where: d.Where(), Results: []Result{reach}}
	if reach.Status == StatusFail {
		for _, c := range []string{CheckQueues, CheckGatekeeper, CheckPermissions, CheckCanary} {
			rep.Results = append(rep.Results, Result{Check: c, Status: StatusSkip, Message: "skipped: the backend could not be reached"})
		}
		return rep
	}
	queues := r.queues(ctx, queueNames)
	requestsOK := queues[0].Status == StatusOK
	var (
		gk   Result
		desc producer.Description
		ok   bool
	)
	if requestsOK {
		gk, desc, ok = r.gatekeeper(ctx)
	} else {
		gk = Result{Check: CheckGatekeeper, Subject: d.QueueName(topology.RequestQueue), Status: StatusSkip,
			Message: "skipped: requests cannot be sent to the gatekeeper (see the request queue above)"}
	}
	if ok {
		queues = append(queues, r.queues(ctx, lanes(desc))...)
	}
	rep.Results = append(rep.Results, queues...)
	rep.Results = append(rep.Results, gk)
	rep.Results = append(rep.Results, r.permissions(ctx)...)
	switch {
	case cfg.SkipCanary:
		rep.Results = append(rep.Results, Result{Check: CheckCanary, Status: StatusSkip, Message: "skipped: --skip-canary"})
	case !ok:
		rep.Results = append(rep.Results, Result{Check: CheckCanary, Status: StatusSkip,
			Message: "skipped: the gatekeeper did not say what you may run (see above)"})
	case len(desc.Containers) == 0:
		rep.Results = append(rep.Results, Result{Check: CheckCanary, Status: StatusSkip, Message: "skipped: you may run nothing"})
	case !slices.Contains(desc.Features, schemas.FeatureCanary):
		// An older gatekeeper would refuse a canary as malformed, and
		// dead-letter the request: none is sent.
		rep.Results = append(rep.Results, Result{Check: CheckCanary, Status: StatusSkip,
			Message: "skipped: the gatekeeper predates canaries (its describe answer does not offer them); upgrade it, then run doctor again"})
	default:
		rep.Results = append(rep.Results, r.canaries(ctx, desc)...)
	}
	return rep
}

// lanes lists the lanes of the containers the caller may run, sorted.
func lanes(d producer.Description) []string {
	var out []string
	for _, c := range d.Containers {
		if name := topology.LaneQueue(c.Lane); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// queues checks that each named queue exists and may be looked at.
func (r *run) queues(ctx context.Context, names []string) []Result {
	out := make([]Result, 0, len(names))
	for _, name := range names {
		full := r.d.QueueName(name)
		res, done := r.timed(CheckQueues, full)
		err := r.d.OpenQueue(ctx, name)
		done()
		switch {
		case err == nil:
			res.Message = full + " exists"
		case errors.Is(err, queue.ErrNotFound):
			res.fail(CauseQueueMissing, fmt.Sprintf("%s does not exist (%s).", full, queueRole(name)), r.d.Hints().QueueMissing)
		case errors.Is(err, queue.ErrDenied):
			res.fail(CausePermissionMissing, fmt.Sprintf("%s on %s was denied to you: %v", r.d.QueueAction(), full, err),
				fmt.Sprintf("Grant your role %s on %s (it reveals no message), or run doctor as a role that has it.", r.d.QueueAction(), full))
		default:
			// No answer that says whether it exists (the network, the
			// service failing or throttling for longer than retries).
			res.fail(CauseUnreachable, fmt.Sprintf("%s could not be looked up: %v", full, err),
				"The backend did not answer this call: try again; if it persists, check the network and the service's health.")
		}
		out = append(out, *res)
	}
	return out
}

// queueRole says what a queue is for.
func queueRole(name string) string {
	switch name {
	case topology.RequestQueue:
		return "the request queue: callers send their requests there, the gatekeeper takes them from it"
	case topology.RequestDLQ:
		return "the request dead-letter queue: requests the gatekeeper could not handle go there"
	case topology.RunDLQ:
		return "the run dead-letter queue: failed jobs go there for a person to replay"
	case topology.CancelQueue:
		return "the cancel queue: cancel orders and canaries go there, past the lanes"
	}
	return "the run queue of lane " + strings.TrimPrefix(name, topology.LaneQueuePrefix) + ": the gatekeeper forwards that lane's jobs there"
}

// gatekeeper asks the gatekeeper what the caller may run.
func (r *run) gatekeeper(ctx context.Context) (Result, producer.Description, bool) {
	res, done := r.timed(CheckGatekeeper, r.d.QueueName(topology.RequestQueue))
	dctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	desc, err := r.d.Describe(dctx)
	cancel()
	done()
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		res.fail(CauseGatekeeperNotAnswering, fmt.Sprintf("a describe request sent to %s got no answer within %s.", res.Subject, r.cfg.Timeout),
			r.d.Hints().GatekeeperSilent)
		return *res, desc, false
	case errors.Is(err, producer.ErrDescribeRejected):
		res.fail(CauseNothingAllowed, fmt.Sprintf("the gatekeeper answered but refused to say what you may run: %v", err),
			"The gatekeeper could not verify who you are: on AWS, the role you sign as must be one the deployment knows (its callers; DEPLOYER_PRINCIPALS for deployer up).")
		return *res, desc, false
	case errors.Is(err, queue.ErrDenied):
		res.fail(CausePermissionMissing, fmt.Sprintf("the describe request could not be sent or answered: %v", err),
			"Grant your role what a caller needs (the ci-caller Terraform module's policy): sqs:SendMessage on the request queue, and sqs:CreateQueue, sqs:ReceiveMessage, sqs:DeleteMessage, sqs:DeleteQueue on its job-* queues.")
		return *res, desc, false
	default:
		res.fail(CauseGatekeeperNotAnswering, fmt.Sprintf("the describe request failed: %v", err), r.d.Hints().GatekeeperSilent)
		return *res, desc, false
	}
	res.PolicyDigest, res.Principal = desc.PolicyDigest, desc.Principal
	res.MayRun = map[string][]string{}
	var runs []string
	for _, c := range desc.Containers {
		var scripts []string
		for _, s := range c.Scripts {
			scripts = append(scripts, s.Name)
		}
		res.MayRun[c.Name] = scripts
		runs = append(runs, fmt.Sprintf("%s (%s)", c.Name, strings.Join(scripts, ", ")))
	}
	policy := desc.PolicyDigest
	if policy == "" {
		policy = "a policy that does not name itself (a gatekeeper older than this deployer)"
	}
	if len(desc.Containers) == 0 {
		res.fail(CauseNothingAllowed, fmt.Sprintf("the gatekeeper answered under policy %s: %s may run nothing.", policy, desc.Principal),
			"Add this principal to the allowed_callers of the containers and scripts it should run, in the configuration the gatekeeper enforces; or run doctor as the identity CI uses.")
		return *res, desc, true
	}
	res.Message = fmt.Sprintf("answered under policy %s: %s may run %s", policy, desc.Principal, strings.Join(runs, "; "))
	return *res, desc, true
}

// permissions runs the permission checker.
func (r *run) permissions(ctx context.Context) []Result {
	if r.cfg.Permissions == nil {
		return []Result{{Check: CheckPermissions, Status: StatusSkip, Message: "skipped: no IAM policy check for this backend"}}
	}
	res, done := r.timed(CheckPermissions, "IAM policies")
	findings, err := r.cfg.Permissions.Check(ctx)
	done()
	if err != nil {
		// Not evidence of a missing right: said, and the canaries still
		// prove what the pipeline can do.
		res.Status = StatusSkip
		res.Message = fmt.Sprintf("not checked: the IAM policies could not be read: %v", err)
		res.Fix = "Run doctor where IAM and STS answer, as an identity that may read the deployment's roles (iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion)."
		return []Result{*res}
	}
	var out []Result
	for _, f := range findings {
		fr := *res
		fr.Subject = f.Subject
		if f.Unchecked {
			fr.Status, fr.Message, fr.Fix = StatusSkip, "not checked: "+f.Message, f.Fix
		} else {
			fr.fail(CausePermissionMissing, f.Message, f.Fix)
		}
		out = append(out, fr)
	}
	if !slices.ContainsFunc(out, func(r Result) bool { return r.Status == StatusFail }) {
		res.Message = "every deployment role holds the rights it needs"
		if len(out) > 0 {
			res.Message += " (of those that could be checked)"
		}
		out = append([]Result{*res}, out...)
	}
	return out
}

// canaries runs a canary of each container the caller may run (those of
// --container), all at once.
func (r *run) canaries(ctx context.Context, desc producer.Description) []Result {
	var names []string
	mayRun := map[string]bool{}
	for _, c := range desc.Containers {
		mayRun[c.Name] = true
		names = append(names, c.Name)
	}
	var out []Result
	if len(r.cfg.Containers) > 0 {
		var chosen []string
		for _, name := range r.cfg.Containers {
			if slices.Contains(chosen, name) {
				continue
			}
			if !mayRun[name] {
				res := Result{Check: CheckCanary, Subject: name}
				res.fail(CauseNothingAllowed, fmt.Sprintf("--container %s: you may not run container %s; you may run: %s", name, name, strings.Join(names, ", ")), "")
				out = append(out, res)
				continue
			}
			chosen = append(chosen, name)
		}
		names = chosen
	}
	results := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { results[i] = r.canary(ctx, name) })
	}
	wg.Wait()
	return append(out, results...)
}

// canary runs one canary and says how it went.
func (r *run) canary(ctx context.Context, container string) Result {
	res, done := r.timed(CheckCanary, container)
	r.runCanary(ctx, res, container)
	done()
	return *res
}

// runCanary runs the canary of res.
func (r *run) runCanary(ctx context.Context, res *Result, container string) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	job, err := r.d.Canary(cctx, container, r.cfg.Timeout)
	if err != nil {
		if errors.Is(err, queue.ErrDenied) {
			res.fail(CausePermissionMissing, fmt.Sprintf("the canary could not be submitted: %v", err), "")
		} else {
			res.fail(CauseCanaryFailed, fmt.Sprintf("the canary could not be submitted: %v", err), "")
		}
		return
	}
	res.JobID = job.ID
	var (
		mu     sync.Mutex
		lines  []string
		events []schemas.JobEvent
	)
	fr, err := r.d.Follow(cctx, job, producer.FollowOptions{
		OnLine:  func(_ int, l schemas.LogLine) { mu.Lock(); lines = append(lines, l.Text); mu.Unlock() },
		OnEvent: func(ev schemas.JobEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() },
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			r.unfinished(res, job, events)
		} else {
			res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: following the canary failed: %v", job.ID, err), "")
		}
		return
	}
	r.ended(res, container, fr.Terminal, lines)
}

// unfinished describes a canary that did not end within the timeout, by
// how far it got.
func (r *run) unfinished(res *Result, job producer.Job, events []schemas.JobEvent) {
	reached := map[schemas.EventType]bool{}
	for _, ev := range events {
		reached[ev.Type] = true
	}
	t := r.cfg.Timeout
	switch {
	case reached[schemas.EventStarted]:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the task started but did not end within %s.", job.ID, t),
			"Its task may be stuck pending (an image that takes long to pull, no capacity): see deployer status "+job.ID+"; a longer --timeout may do.")
	case reached[schemas.EventStarting]:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: a worker took the canary but its task did not start within %s.", job.ID, t),
			"The worker may be retrying its start (capacity, throttling): see its log and deployer status "+job.ID+".")
	case reached[schemas.EventQueued]:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: queued, but no worker started it within %s.", job.ID, t), r.d.Hints().NotStarted)
	case reached[schemas.EventAccepted]:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the gatekeeper accepted the canary but never queued it within %s: it could not forward it to the run queue.", job.ID, t),
			"The gatekeeper needs sqs:SendMessage on the run queues (the lanes' and the cancel queue); its log says what failed. Requests it keeps failing on go to the request dead-letter queue (deployer dlq list --queue request).")
	default:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the gatekeeper did not take the canary's request within %s, although it answered the describe request.", job.ID, t),
			"It may be busy or failing on this kind of request: see its log, and the request dead-letter queue (deployer dlq list --queue request).")
	}
}

// ended judges a canary that ended.
func (r *run) ended(res *Result, container string, term schemas.JobEvent, lines []string) {
	id := term.JobID
	switch {
	case term.Outcome == schemas.OutcomeSucceeded:
		for _, l := range lines {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), schemas.CanaryVersionPrefix); ok && v != "" && !strings.ContainsAny(v, " \t") {
				res.Version = v
				res.Message = fmt.Sprintf("%s%s (job %s)", schemas.CanaryVersionPrefix, v, id)
				return
			}
		}
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the task exited 0 without printing a deployer-task version (%s).", id, printed(lines)),
			"The image's entrypoint is not deployer-task: every task image's ENTRYPOINT must be [\"deployer-task\"] (see images/).")
	case term.ReasonCode == gatekeeper.ReasonNotForwarded:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: accepted but never queued: %s", id, term.Reason),
			"Grant the gatekeeper's role sqs:SendMessage on the run queues (the lanes' and the cancel queue), and make sure they exist.")
	case term.ReasonCode == worker.ReasonTaskDefinitionMissing || (term.Outcome == schemas.OutcomeCouldNotStart && missingDefinition(term.Reason)):
		res.fail(CauseTaskDefinitionMissing, fmt.Sprintf("job %s: the task of container %s could not start: %s", id, container, strings.TrimPrefix(term.Reason, "could not start: ")),
			r.d.Hints().TaskDefinition)
	case term.Type == schemas.EventRejected:
		fix := "The policy in force changed since the describe request, or the gatekeeper does not know canaries."
		if term.ReasonCode == policyMalformed {
			fix = "A gatekeeper older than this deployer refuses canaries as malformed (they name no script): upgrade the gatekeeper."
		}
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the gatekeeper rejected the canary [%s]: %s", id, term.ReasonCode, term.Reason), fix)
	case term.Outcome == schemas.OutcomeCouldNotStart:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the task could not start: %s", id, strings.TrimPrefix(term.Reason, "could not start: ")),
			"Look at why: an image that cannot be pulled, a secret the task role may not read, no capacity (see deployer status "+id+").")
	case term.Outcome == schemas.OutcomeFailed:
		code := -1
		if term.ExitCode != nil {
			code = *term.ExitCode
		}
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the task exited with code %d (%s).", id, code, printed(lines)),
			"deployer-task --version exits 0: the image's entrypoint is not deployer-task, or not one that knows --version (an old deployer-task: rebuild the image).")
	default:
		res.fail(CauseCanaryFailed, fmt.Sprintf("job %s: the canary ended %s: %s", id, term.Outcome, term.Reason),
			"See deployer status "+id+".")
	}
}

// policyMalformed is the rejection code of a request the gatekeeper could
// not read as a request of its contract.
const policyMalformed = gatekeeper.ReasonMalformed

// missingDefinition reports whether a could-not-start reason is ECS's for
// a task definition that does not exist or is inactive (as a worker that
// predates task_definition_missing reports it).
func missingDefinition(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "unable to find task definition") || strings.Contains(r, "taskdefinition is inactive") ||
		strings.Contains(r, "task definition is inactive")
}

// printed quotes what a canary printed, briefly.
func printed(lines []string) string {
	if len(lines) == 0 {
		return "it printed nothing"
	}
	const most = 3
	shown := lines[:min(len(lines), most)]
	more := ""
	if len(lines) > most {
		more = fmt.Sprintf(" (and %d more lines)", len(lines)-most)
	}
	q := make([]string, len(shown))
	for i, l := range shown {
		if len(l) > 200 {
			l = l[:200] + "…"
		}
		q[i] = fmt.Sprintf("%q", l)
	}
	return "it printed " + strings.Join(q, ", ") + more
}
