package ecsrunner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/schemas"
)

// Names the runner gives tasks: tags, and variables set in the task.
const (
	TagJobID   = "deployer:job_id"
	TagAttempt = "deployer:attempt"
	// EnvJobID and EnvAttempt are set in every task's environment, for
	// deployer-task, the entrypoint of every task image.
	EnvJobID   = task.EnvJobID
	EnvAttempt = task.EnvAttempt
	// SecretEnvPrefix prefixes the variable carrying a secret's reference:
	// the secret NAME travels as DEPLOYER_SECRET_NAME=<reference>, for
	// deployer-task to resolve into NAME.
	SecretEnvPrefix = task.EnvSecretPrefix
)

// ECS limits the runner respects.
const (
	maxTags         = 50
	maxTagKey       = 128
	maxTagValue     = 256
	maxOverrides    = 8192
	maxStopReason   = 255
	maxClientToken  = 64
	maxDescribe     = 100
	defaultLaunch   = "FARGATE"
	defaultContName = "deployer"
)

// Options configure a Runner.
type Options struct {
	// Cluster is the short name or ARN of the cluster tasks run on.
	// Defaults to ECS's "default" cluster.
	Cluster string
	// ContainerName is the container of the task definition whose command
	// and environment are overridden with the job's; its exit code is the
	// task's. Defaults to "deployer".
	ContainerName string
	// LaunchType is used when a spec names none ("FARGATE", "EC2",
	// "EXTERNAL"). Defaults to "FARGATE".
	LaunchType string
	// Subnets and SecurityGroups, when Subnets is set, give tasks an
	// awsvpc network configuration (required for FARGATE and for task
	// definitions in awsvpc network mode). Unset, no network
	// configuration is sent.
	Subnets, SecurityGroups []string
	// AssignPublicIP gives awsvpc tasks a public IP (needed on Fargate in
	// a public subnet without a NAT gateway to pull images). Defaults to
	// false.
	AssignPublicIP bool
	// PlatformVersion is the Fargate platform version of FARGATE tasks.
	// Defaults to ECS's LATEST.
	PlatformVersion string
}

// Runner runs tasks on ECS. It is safe for concurrent use.
type Runner struct {
	ecs  *ecs.Client
	opts Options
}

var _ runner.Runner = (*Runner)(nil)

// New returns a Runner calling ECS through client (built from
// awsx.Load's configuration, so throttling and broken connections are
// retried with backoff).
func New(client *ecs.Client, opts Options) *Runner {
	if opts.ContainerName == "" {
		opts.ContainerName = defaultContName
	}
	if opts.LaunchType == "" {
		opts.LaunchType = defaultLaunch
	}
	return &Runner{ecs: client, opts: opts}
}

func (r *Runner) cluster() *string {
	if r.opts.Cluster == "" {
		return nil
	}
	return aws.String(r.opts.Cluster)
}

// ClientToken is the RunTask clientToken of a job's attempt:
// "<job id>.<attempt>" when that fits ECS's 64 printable ASCII
// characters, else the hex SHA-256 of both (64 characters).
func ClientToken(jobID string, attempt int) string {
	tok := jobID + "." + strconv.Itoa(attempt)
	ok := len(tok) <= maxClientToken && !strings.ContainsFunc(tok, func(r rune) bool { return r < 33 || r > 126 })
	if ok {
		return tok
	}
	sum := sha256.Sum256([]byte(jobID + "\x00" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:])
}

// validStartedBy reports whether s can be ECS's startedBy:
// ^[A-Za-z0-9_/-]{1,128}$. (Checked by hand: the {1,128} compiles to a
// program of 128 copies, which every process would build at start-up.)
func validStartedBy(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/' || c == '-'; !ok {
			return false
		}
	}
	return true
}

// Start starts the task of spec.JobID and spec.Attempt, or returns the one
// already started for them. A spec ECS can never run is refused with an
// error wrapping runner.ErrInvalidSpec; a placement failure wraps
// runner.ErrCapacity, throttling runner.ErrThrottled.
func (r *Runner) Start(ctx context.Context, spec runner.Spec) (runner.Task, error) {
	in, err := r.runTaskInput(spec)
	if err != nil {
		return runner.Task{}, fmt.Errorf("starting task for job %s attempt %d: %w", spec.JobID, spec.Attempt, err)
	}
	task, err := r.Find(ctx, spec.JobID, spec.Attempt)
	if err == nil {
		return task, nil
	}
	if !errors.Is(err, runner.ErrNotFound) {
		return runner.Task{}, fmt.Errorf("starting task for job %s attempt %d: %w", spec.JobID, spec.Attempt, err)
	}
	out, err := r.ecs.RunTask(ctx, in)
	if err != nil {
		return runner.Task{}, fmt.Errorf("starting task for job %s attempt %d: RunTask: %w", spec.JobID, spec.Attempt, runTaskError(err))
	}
	if len(out.Tasks) == 0 {
		return runner.Task{}, fmt.Errorf("starting task for job %s attempt %d: %w", spec.JobID, spec.Attempt, placementError(out.Failures))
	}
	return r.toTask(out.Tasks[0]), nil
}

// runTaskInput builds the RunTask request of spec, deterministically, or
// says why ECS could never run it.
func (r *Runner) runTaskInput(spec runner.Spec) (*ecs.RunTaskInput, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validStartedBy(spec.JobID) {
		bad("job id %q cannot be an ECS startedBy (1 to 128 letters, digits, '-', '_', '/')", spec.JobID)
	}
	if spec.Attempt < 1 {
		bad("attempt %d is not positive", spec.Attempt)
	}
	if spec.TaskDefinition == "" {
		bad("no task definition given")
	}
	switch {
	case spec.Canary && (spec.Script != "" || len(spec.Argv) > 0):
		bad("a canary runs no script and takes no arguments")
	case !spec.Canary && spec.Script == "":
		bad("no script given")
	}
	if spec.CPU < 0 || spec.Memory < 0 {
		bad("cpu %d and memory %d must not be negative", spec.CPU, spec.Memory)
	}
	env := map[string]string{EnvJobID: spec.JobID, EnvAttempt: strconv.Itoa(spec.Attempt)}
	for k, v := range spec.Env {
		switch {
		case !schemas.ValidEnvName(k):
			bad("environment variable name %q is not valid", k)
		case k == EnvJobID || k == EnvAttempt || strings.HasPrefix(k, SecretEnvPrefix):
			bad("environment variable %s is set by the runner", k)
		default:
			env[k] = v
		}
	}
	for k, ref := range spec.Secrets {
		switch {
		case !schemas.ValidEnvName(k):
			bad("secret variable name %q is not valid", k)
		case ref == "":
			bad("secret %s has no reference", k)
		default:
			if _, dup := spec.Env[k]; dup {
				bad("variable %s is both an environment variable and a secret", k)
			}
			env[SecretEnvPrefix+k] = ref
		}
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	kvs := make([]types.KeyValuePair, 0, len(names))
	for _, k := range names {
		kvs = append(kvs, types.KeyValuePair{Name: aws.String(k), Value: aws.String(env[k])})
	}

	tags := map[string]string{}
	for k, v := range spec.Tags {
		tags[k] = v
	}
	tags[TagJobID] = spec.JobID
	tags[TagAttempt] = strconv.Itoa(spec.Attempt)
	if len(tags) > maxTags {
		bad("%d tags, ECS allows %d (the runner adds %s and %s)", len(tags), maxTags, TagJobID, TagAttempt)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ecsTags := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		v := tags[k]
		switch {
		case k == "" || len([]rune(k)) > maxTagKey:
			bad("tag key %q must be 1 to %d characters", k, maxTagKey)
		case len([]rune(v)) > maxTagValue:
			bad("tag %s: value longer than %d characters", k, maxTagValue)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			bad("tag key %q: the aws: prefix is reserved", k)
		}
		ecsTags = append(ecsTags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}

	command := append([]string{spec.Script}, spec.Argv...)
	if spec.Canary {
		// The image's entrypoint is deployer-task: its version probe.
		command = []string{task.VersionFlag}
	}
	overrides := &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
		Name:        aws.String(r.opts.ContainerName),
		Command:     command,
		Environment: kvs,
	}}}
	if spec.CPU > 0 {
		overrides.Cpu = aws.String(strconv.Itoa(spec.CPU))
	}
	if spec.Memory > 0 {
		overrides.Memory = aws.String(strconv.Itoa(spec.Memory))
	}
	if n := overridesSize(overrides); n > maxOverrides {
		bad("the container overrides (command and environment) take %d characters, ECS allows %d", n, maxOverrides)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", runner.ErrInvalidSpec, errors.Join(errs...))
	}

	launch := spec.LaunchType
	if launch == "" {
		launch = r.opts.LaunchType
	}
	in := &ecs.RunTaskInput{
		Cluster:              r.cluster(),
		TaskDefinition:       aws.String(spec.TaskDefinition),
		Count:                aws.Int32(1),
		ClientToken:          aws.String(ClientToken(spec.JobID, spec.Attempt)),
		StartedBy:            aws.String(spec.JobID),
		LaunchType:           types.LaunchType(launch),
		Overrides:            overrides,
		Tags:                 ecsTags,
		EnableECSManagedTags: true,
	}
	if launch == string(types.LaunchTypeFargate) && r.opts.PlatformVersion != "" {
		in.PlatformVersion = aws.String(r.opts.PlatformVersion)
	}
	if len(r.opts.Subnets) > 0 {
		public := types.AssignPublicIpDisabled
		if r.opts.AssignPublicIP {
			public = types.AssignPublicIpEnabled
		}
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets:        slices.Clone(r.opts.Subnets),
			SecurityGroups: slices.Clone(r.opts.SecurityGroups),
			AssignPublicIp: public,
		}}
	}
	return in, nil
}

// overridesSize approximates the JSON length ECS counts against its
// overrides limit.
func overridesSize(o *types.TaskOverride) int {
	type kv struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var w struct {
		ContainerOverrides []struct {
			Name        string   `json:"name"`
			Command     []string `json:"command"`
			Environment []kv     `json:"environment"`
		} `json:"containerOverrides"`
		CPU    *string `json:"cpu,omitempty"`
		Memory *string `json:"memory,omitempty"`
	}
	w.CPU, w.Memory = o.Cpu, o.Memory
	for _, co := range o.ContainerOverrides {
		c := struct {
			Name        string   `json:"name"`
			Command     []string `json:"command"`
			Environment []kv     `json:"environment"`
		}{Name: aws.ToString(co.Name), Command: co.Command}
		for _, e := range co.Environment {
			c.Environment = append(c.Environment, kv{aws.ToString(e.Name), aws.ToString(e.Value)})
		}
		w.ContainerOverrides = append(w.ContainerOverrides, c)
	}
	raw, _ := json.Marshal(w)
	return len(raw)
}

// Find returns the task of a job's attempt, running or stopped; an error
// wrapping runner.ErrNotFound when ECS has none (never started, or
// stopped long enough ago that ECS forgot it).
func (r *Runner) Find(ctx context.Context, jobID string, attempt int) (runner.Task, error) {
	if !validStartedBy(jobID) {
		return runner.Task{}, fmt.Errorf("finding task of job %q attempt %d: %w", jobID, attempt, runner.ErrNotFound)
	}
	// RUNNING first: a task stopping between the two listings is then
	// seen in the second.
	var arns []string
	for _, status := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		p := ecs.NewListTasksPaginator(r.ecs, &ecs.ListTasksInput{
			Cluster: r.cluster(), StartedBy: aws.String(jobID), DesiredStatus: status, MaxResults: aws.Int32(100),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return runner.Task{}, fmt.Errorf("finding task of job %s attempt %d: ListTasks: %w", jobID, attempt, apiError(err))
			}
			for _, a := range page.TaskArns {
				if !slices.Contains(arns, a) {
					arns = append(arns, a)
				}
			}
		}
	}
	tasks, err := r.describe(ctx, arns)
	if err != nil {
		return runner.Task{}, fmt.Errorf("finding task of job %s attempt %d: %w", jobID, attempt, err)
	}
	var found *runner.Task
	for i := range tasks {
		t := &tasks[i]
		if t.JobID != jobID || t.Attempt != attempt {
			continue
		}
		// Never two by construction; should ECS hold two, the one that
		// started first is the one.
		if found == nil || startedBefore(*t, *found) {
			found = t
		}
	}
	if found == nil {
		return runner.Task{}, fmt.Errorf("finding task of job %s attempt %d: %w", jobID, attempt, runner.ErrNotFound)
	}
	return *found, nil
}

// startedBefore orders tasks by start time, those not started last.
func startedBefore(a, b runner.Task) bool {
	switch {
	case a.StartedAt.IsZero() != b.StartedAt.IsZero():
		return !a.StartedAt.IsZero()
	case !a.StartedAt.Equal(b.StartedAt):
		return a.StartedAt.Before(b.StartedAt)
	}
	return a.ID < b.ID
}

// Inspect returns the tasks with these ids (ECS task ids or ARNs) that ECS
// knows, with one DescribeTasks per 100 distinct ids.
func (r *Runner) Inspect(ctx context.Context, ids ...string) ([]runner.Task, error) {
	seen := make(map[string]bool, len(ids))
	distinct := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	tasks, err := r.describe(ctx, distinct)
	if err != nil {
		return nil, fmt.Errorf("inspecting %d tasks: %w", len(distinct), err)
	}
	return tasks, nil
}

// describe describes tasks in batches of 100, leaving out those ECS does
// not know.
func (r *Runner) describe(ctx context.Context, refs []string) ([]runner.Task, error) {
	out := make([]runner.Task, 0, len(refs))
	for batch := range slices.Chunk(refs, maxDescribe) {
		res, err := r.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{
			Cluster: r.cluster(), Tasks: batch, Include: []types.TaskField{types.TaskFieldTags},
		})
		if err != nil {
			return nil, fmt.Errorf("DescribeTasks: %w", apiError(err))
		}
		for _, f := range res.Failures {
			if aws.ToString(f.Reason) != "MISSING" {
				return nil, fmt.Errorf("DescribeTasks: %s: %s %s", aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail))
			}
		}
		for _, t := range res.Tasks {
			out = append(out, r.toTask(t))
		}
	}
	return out, nil
}

// Stop asks ECS to stop the task (SIGTERM, then SIGKILL after the task's
// stop timeout), giving reason (cut to ECS's 255 characters) as its
// stopped reason. Stopping a stopped or stopping task is not an error; an
// unknown task is runner.ErrNotFound.
func (r *Runner) Stop(ctx context.Context, id, reason string) error {
	if rs := []rune(reason); len(rs) > maxStopReason {
		reason = string(rs[:maxStopReason])
	}
	_, err := r.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: r.cluster(), Task: aws.String(id), Reason: aws.String(reason)})
	if err == nil {
		return nil
	}
	if awsx.HasCode(err, "InvalidParameterException") {
		// ECS answers an unknown task with InvalidParameterException ("The
		// referenced task was not found", "Task Identifier is invalid");
		// ask DescribeTasks rather than parse the message.
		tasks, derr := r.describe(ctx, []string{id})
		if (derr == nil && len(tasks) == 0) || (derr != nil && awsx.HasCode(derr, "InvalidParameterException")) {
			return fmt.Errorf("stopping task %s: %w", id, runner.ErrNotFound)
		}
	}
	return fmt.Errorf("stopping task %s: StopTask: %w", id, apiError(err))
}

// apiError names throttling that outlasted the retryer.
func apiError(err error) error {
	if awsx.Throttled(err) {
		return fmt.Errorf("%w: %w", runner.ErrThrottled, err)
	}
	return err
}

// runTaskError maps a RunTask error to the port's errors.
func runTaskError(err error) error {
	switch {
	case awsx.Throttled(err):
		return fmt.Errorf("%w: %w", runner.ErrThrottled, err)
	case missingTaskDefinition(err):
		return fmt.Errorf("%w: %w: %w", runner.ErrInvalidSpec, runner.ErrMissingDefinition, err)
	case awsx.HasCode(err, "ClientException", "InvalidParameterException",
		"PlatformUnknownException", "PlatformTaskDefinitionIncompatibilityException"):
		return fmt.Errorf("%w: %w", runner.ErrInvalidSpec, err)
	case awsx.HasCode(err, "ConflictException"):
		return fmt.Errorf("%w: a task of this job and attempt was started with different parameters: %w", runner.ErrInvalidSpec, err)
	}
	return err
}

// missingTaskDefinition reports whether a RunTask error says the task
// definition does not exist ("ClientException: Unable to find task
// definition.") or is inactive ("ClientException: TaskDefinition is
// inactive"), as ECS words them.
func missingTaskDefinition(err error) bool {
	if !awsx.HasCode(err, "ClientException", "InvalidParameterException") {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unable to find task definition") || strings.Contains(msg, "taskdefinition is inactive") ||
		strings.Contains(msg, "task definition is inactive")
}

// placementError maps RunTask failures (no task placed) to the port's
// errors.
func placementError(failures []types.Failure) error {
	if len(failures) == 0 {
		return errors.New("RunTask placed no task and reported no failure")
	}
	f := failures[0]
	reason, detail := aws.ToString(f.Reason), aws.ToString(f.Detail)
	desc := "RunTask failure " + reason
	if detail != "" {
		desc += " (" + detail + ")"
	}
	lower := strings.ToLower(reason + " " + detail)
	switch {
	case strings.HasPrefix(reason, "RESOURCE:"), reason == "AGENT", strings.Contains(lower, "capacity"):
		return fmt.Errorf("%w: %s", runner.ErrCapacity, desc)
	case reason == "MISSING", reason == "ATTRIBUTE":
		return fmt.Errorf("%w: %s", runner.ErrInvalidSpec, desc)
	}
	return errors.New(desc)
}
