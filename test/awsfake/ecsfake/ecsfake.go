package ecsfake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/test/awsfake"
)

// TargetPrefix is ECS's X-Amz-Target prefix.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113"

// Defaults of Options.
const (
	// DefaultDelay is the time a task spends in each state before RUNNING
	// and after its container exited, unless Options.Delays says
	// otherwise.
	DefaultDelay = 10 * time.Millisecond
	// DefaultStopTimeout is the time between SIGTERM and SIGKILL when a
	// running task is stopped: ECS's default stopTimeout.
	DefaultStopTimeout = 30 * time.Second
)

// Reasons ECS reports, as the ECS developer guide spells them.
const (
	// ReasonEssentialExited is the stoppedReason of a task whose
	// container exited by itself.
	ReasonEssentialExited = "Essential container in task exited"
	// ReasonOutOfMemory is the container reason of a container killed
	// for using more memory than its limit (exit code 137).
	ReasonOutOfMemory = "OutOfMemoryError: Container killed due to memory usage"
	// ReasonStoppedByUser is the stoppedReason of a StopTask without a
	// reason.
	ReasonStoppedByUser = "Task stopped by user"
)

// Plan is how one task behaves when its container runs without
// Options.Run.
type Plan struct {
	// Lines are written by the task when its container starts (handed to
	// Options.OnLog in one call).
	Lines []string
	// ExitCode is the container's exit code when it exits by itself.
	ExitCode int
	// Sleep keeps the container running until the task is stopped: it
	// exits 143 on SIGTERM.
	Sleep bool
	// IgnoreSIGTERM makes a sleeping container ignore SIGTERM, so that
	// StopTask ends it with SIGKILL after the stop timeout (exit code
	// 137).
	IgnoreSIGTERM bool
	// Hold, when set, keeps a container that would exit running until
	// Hold is closed (or the task is stopped): a test acts while the task
	// runs, then lets it end.
	Hold <-chan struct{}
	// OutOfMemory kills the container for its memory once it has written
	// its lines: exit code 137, container reason ReasonOutOfMemory.
	OutOfMemory bool
	// FailToStart, when set, makes the task stop at the end of PENDING,
	// before its container starts (stop code TaskFailedToStart, no exit
	// code), with this as the stopped reason: "CannotPullContainerError:
	// ...", "ResourceInitializationError: ...". A reason naming a
	// container error ("Cannot...") is the container's reason too.
	FailToStart string
}

// Delays are how long a task stays in the states ECS passes through on
// its own, on the wall clock. Zero is DefaultDelay; negative is none.
type Delays struct {
	// Provisioning is PROVISIONING → PENDING (the task's network
	// interface attached).
	Provisioning time.Duration
	// Pending is PENDING → RUNNING (the image pulled, secrets fetched).
	Pending time.Duration
	// Deprovisioning is the time from the container's exit to STOPPED.
	Deprovisioning time.Duration
}

func (d Delays) withDefaults() Delays {
	fix := func(v time.Duration) time.Duration {
		switch {
		case v == 0:
			return DefaultDelay
		case v < 0:
			return 0
		}
		return v
	}
	return Delays{fix(d.Provisioning), fix(d.Pending), fix(d.Deprovisioning)}
}

// Capacity is the one container instance of each cluster (launch type
// EC2): RunTask places a task only when its cpu and memory fit beside the
// tasks not yet stopped, and otherwise answers a failure RESOURCE:MEMORY
// or RESOURCE:CPU naming the container instance, as ECS does. A task's
// cpu and memory are those of the RunTask overrides (none: 0).
type Capacity struct {
	CPU, Memory int
}

// Options configure a Fake. The zero value knows no task definitions.
type Options struct {
	// Region and AccountID go into ARNs. Default us-east-1 and
	// 123456789012.
	Region, AccountID string
	// TaskDefinitions maps the families RunTask accepts to their container
	// names. A family with no containers has one named "app".
	TaskDefinitions map[string][]string
	// Behave plans a task from its task definition (as given to RunTask),
	// its first container's effective command and environment (the
	// overrides). It is called from RunTask, under the fake's lock, so it
	// must be quick. Nil plans every task to exit 0 at once.
	Behave func(taskDefinition string, command []string, env map[string]string) Plan
	// Run, when set, runs every task's container (see RunFunc and Exec)
	// instead of playing its Plan; Behave still decides whether a task
	// fails to start.
	Run RunFunc
	// OnLog, when set, receives a task's log events (by task id) as its
	// container writes them, outside the fake's lock: a Plan's lines in
	// one call when the container starts; with Run, the events each Write
	// of the container's output completes (see LogInterval).
	OnLog func(taskID string, lines []string)
	// LogInterval, with Run, collects a container's events for this long
	// (or until they fill a PutLogEvents batch) before handing them to
	// OnLog, as the awslogs driver sends a batch every 5 seconds by
	// default: for a sink that costs a call per batch. Zero hands over
	// each Write's events at once.
	LogInterval time.Duration
	// Framed makes planned tasks behave as images whose entrypoint is
	// deployer-task: OnLog receives their lines as task records (job and
	// attempt from the DEPLOYER_JOB_ID and DEPLOYER_ATTEMPT overrides,
	// long lines in parts) and, when the container exits other than by
	// SIGKILL, the end record with its exit code. (With Run, the
	// container's own output is what it is.)
	Framed bool
	// Delays are the times tasks spend starting and stopping. Defaults to
	// DefaultDelay each.
	Delays Delays
	// StopTimeout is the task definitions' stopTimeout: the time between
	// SIGTERM and SIGKILL when a running task is stopped. Defaults to
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// Capacity, when set, is each cluster's one container instance;
	// nil places every task (Fargate).
	Capacity *Capacity
}

// TaskInfo is a snapshot of one task the fake holds.
type TaskInfo struct {
	ID, ARN, Cluster, StartedBy, TaskDefinition string
	// Tags are the tags given to RunTask (kept after StopTask deletes the
	// task's own tags).
	Tags map[string]string
	// Command and Env are the overridden container's.
	Command []string
	Env     map[string]string
	// LastStatus and DesiredStatus are the task's current statuses; Ran
	// says whether its container started.
	LastStatus, DesiredStatus string
	Ran                       bool
	// StopCode, StoppedReason, ExitCode and ContainerReason are what
	// DescribeTasks reports of a stopping or stopped task.
	StopCode, StoppedReason string
	ExitCode                *int
	ContainerReason         string
	// History is the task's statuses so far, in order.
	History []string
}

// Fake is the in-memory ECS. It is safe for concurrent use. Its tasks run
// on goroutines of their own: Close stops them.
type Fake struct {
	opts   Options
	delays Delays
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	tasks     map[string]*task // by task id
	order     []*task          // creation order
	tokens    map[string]tokenEntry
	runFails  []failure
	failNext  map[string][]*awsfake.Error
	callCount map[string]int
	changed   chan struct{} // closed and replaced on every change
	closed    bool
}

type tokenEntry struct {
	params string
	answer runTaskOutput
}

// New returns a Fake. Call Close when done with it (Serve does).
func New(opts Options) *Fake {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fake{
		opts:      opts,
		delays:    opts.Delays.withDefaults(),
		ctx:       ctx,
		cancel:    cancel,
		tasks:     map[string]*task{},
		tokens:    map[string]tokenEntry{},
		failNext:  map[string][]*awsfake.Error{},
		callCount: map[string]int{},
		changed:   make(chan struct{}),
	}
}

// Close kills every container still running (as if the cluster went
// away: the tasks stay as they were) and waits for the tasks' goroutines.
// RunTask fails after it. It is idempotent.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	for _, t := range f.order {
		if t.killTimer != nil {
			t.killTimer.Stop()
		}
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// Service returns the ECS service to add to an awsfake.Server.
func (f *Fake) Service() *awsfake.Service {
	return &awsfake.Service{
		TargetPrefix: TargetPrefix,
		ContentType:  "application/x-amz-json-1.1",
		Operations: map[string]awsfake.Operation{
			"RunTask":       f.op("RunTask", f.runTask),
			"DescribeTasks": f.op("DescribeTasks", f.describeTasks),
			"ListTasks":     f.op("ListTasks", f.listTasks),
			"StopTask":      f.op("StopTask", f.stopTask),
		},
	}
}

// Serve serves f alone on a loopback server closed when t ends, then
// closes f, and returns its URL.
func (f *Fake) Serve(t testing.TB) string {
	t.Helper()
	t.Cleanup(f.Close)
	var srv awsfake.Server
	srv.Add(f.Service())
	return srv.Start(t)
}

// FailRunTask makes the next n RunTask calls place nothing and answer a
// failure with this reason ("RESOURCE:MEMORY", "AGENT", "MISSING") and
// detail.
func (f *Fake) FailRunTask(n int, reason, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.runFails = append(f.runFails, failure{Reason: reason, Detail: detail})
	}
}

// FailNext answers the next n calls of operation op ("RunTask",
// "DescribeTasks", ...) with err instead of doing them.
func (f *Fake) FailNext(op string, n int, err *awsfake.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failNext[op] = append(f.failNext[op], err)
	}
}

// Calls returns how many calls of op the fake received (failed ones
// included).
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callCount[op]
}

// Tasks returns a snapshot of every task started, in creation order.
func (f *Fake) Tasks() []TaskInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot()
}

func (f *Fake) snapshot() []TaskInfo {
	out := make([]TaskInfo, 0, len(f.order))
	for _, t := range f.order {
		out = append(out, t.info())
	}
	return out
}

// Task returns a snapshot of the task with this id (or ARN).
func (f *Fake) Task(ref string) (TaskInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[idOf(ref)]
	if t == nil {
		return TaskInfo{}, false
	}
	return t.info(), true
}

// WaitFor waits until cond holds for the snapshot of every task (in
// creation order), checking at every change of any task, and returns
// ctx's error if it ends first.
func (f *Fake) WaitFor(ctx context.Context, cond func([]TaskInfo) bool) error {
	for {
		f.mu.Lock()
		tasks, ch := f.snapshot(), f.changed
		f.mu.Unlock()
		if cond(tasks) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// KillOutOfMemory kills the container of a running task for using more
// memory than its limit: SIGKILL at once, and the container's reason
// ReasonOutOfMemory. It reports false when the task's container is not
// running.
func (f *Fake) KillOutOfMemory(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tasks[idOf(ref)]
	if t == nil || t.containerStatus != "RUNNING" {
		return false
	}
	t.oom = true
	t.signal(syscall.SIGKILL)
	return true
}

func (f *Fake) op(name string, fn func(body []byte) (any, error)) awsfake.Operation {
	return func(_ *http.Request, body []byte) (any, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.callCount[name]++
		if q := f.failNext[name]; len(q) > 0 {
			f.failNext[name] = q[1:]
			return nil, q[0]
		}
		return fn(body)
	}
}

// Wire shapes (the ECS API reference's, as aws-sdk-go-v2's schemas name
// them).

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

type containerOverride struct {
	Name        *string    `json:"name,omitempty"`
	Command     []string   `json:"command,omitempty"`
	Environment []keyValue `json:"environment,omitempty"`
	CPU         *int       `json:"cpu,omitempty"`
	Memory      *int       `json:"memory,omitempty"`
}

type taskOverride struct {
	ContainerOverrides []containerOverride `json:"containerOverrides,omitempty"`
	CPU                *string             `json:"cpu,omitempty"`
	Memory             *string             `json:"memory,omitempty"`
	TaskRoleArn        *string             `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn   *string             `json:"executionRoleArn,omitempty"`
}

type runTaskInput struct {
	Cluster              string          `json:"cluster"`
	TaskDefinition       string          `json:"taskDefinition"`
	Count                *int            `json:"count"`
	StartedBy            string          `json:"startedBy"`
	Group                string          `json:"group"`
	ClientToken          string          `json:"clientToken"`
	LaunchType           string          `json:"launchType"`
	PlatformVersion      string          `json:"platformVersion"`
	EnableECSManagedTags bool            `json:"enableECSManagedTags"`
	PropagateTags        string          `json:"propagateTags"`
	Overrides            *taskOverride   `json:"overrides"`
	Tags                 []tag           `json:"tags"`
	NetworkConfiguration json.RawMessage `json:"networkConfiguration"`
}

type failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type containerOut struct {
	ContainerArn string  `json:"containerArn"`
	TaskArn      string  `json:"taskArn"`
	Name         string  `json:"name"`
	LastStatus   string  `json:"lastStatus"`
	ExitCode     *int    `json:"exitCode,omitempty"`
	Reason       *string `json:"reason,omitempty"`
}

type taskOut struct {
	TaskArn            string         `json:"taskArn"`
	ClusterArn         string         `json:"clusterArn"`
	TaskDefinitionArn  string         `json:"taskDefinitionArn"`
	ContainerInstArn   string         `json:"containerInstanceArn,omitempty"`
	LastStatus         string         `json:"lastStatus"`
	DesiredStatus      string         `json:"desiredStatus"`
	StartedBy          string         `json:"startedBy,omitempty"`
	Group              string         `json:"group,omitempty"`
	LaunchType         string         `json:"launchType,omitempty"`
	CPU                string         `json:"cpu,omitempty"`
	Memory             string         `json:"memory,omitempty"`
	CreatedAt          *epoch         `json:"createdAt,omitempty"`
	PullStartedAt      *epoch         `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *epoch         `json:"pullStoppedAt,omitempty"`
	StartedAt          *epoch         `json:"startedAt,omitempty"`
	StoppingAt         *epoch         `json:"stoppingAt,omitempty"`
	ExecutionStoppedAt *epoch         `json:"executionStoppedAt,omitempty"`
	StoppedAt          *epoch         `json:"stoppedAt,omitempty"`
	StopCode           string         `json:"stopCode,omitempty"`
	StoppedReason      string         `json:"stoppedReason,omitempty"`
	Containers         []containerOut `json:"containers"`
	Overrides          *taskOverride  `json:"overrides,omitempty"`
	Tags               []tag          `json:"tags,omitempty"`
	Version            int64          `json:"version"`
}

type runTaskOutput struct {
	Tasks    []taskOut `json:"tasks"`
	Failures []failure `json:"failures"`
}

// epoch is a timestamp as awsJson1_1 sends it: seconds since the epoch.
type epoch time.Time

func (e *epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(*e).UnixMilli())/1000, 'f', 3, 64)), nil
}

func at(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

func clusterName(c string) string {
	if c == "" {
		return "default"
	}
	if strings.HasPrefix(c, "arn:") {
		if _, name, ok := strings.Cut(c, ":cluster/"); ok {
			return name
		}
	}
	return c
}

// family returns the family of a task definition given as "family",
// "family:revision" or an ARN.
func family(td string) string {
	if strings.HasPrefix(td, "arn:") {
		if _, rest, ok := strings.Cut(td, ":task-definition/"); ok {
			td = rest
		}
	}
	name, _, _ := strings.Cut(td, ":")
	return name
}

func (f *Fake) arn(resource string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s", f.opts.Region, f.opts.AccountID, resource)
}

// instanceARN is the ARN of a cluster's one container instance
// (Options.Capacity).
func (f *Fake) instanceARN(cluster string) string {
	sum := sha256.Sum256([]byte(cluster))
	return f.arn("container-instance/" + cluster + "/" + hex.EncodeToString(sum[:16]))
}

func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// idOf returns the task id of a task id or ARN.
func idOf(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref[strings.LastIndex(ref, "/")+1:]
	}
	return ref
}

// startedByPattern is what ECS admits in startedBy.
var startedByPattern = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)

func invalid(format string, args ...any) error {
	return awsfake.ClientError("InvalidParameterException", format, args...)
}

// size parses a cpu or memory override ("256"); anything else is 0.
func size(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (f *Fake) runTask(body []byte) (any, error) {
	var in runTaskInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.TaskDefinition == "" {
		return nil, invalid("TaskDefinition cannot be empty.")
	}
	if len(in.ClientToken) > 64 {
		return nil, invalid("clientToken must be at most 64 characters.")
	}
	for _, c := range in.ClientToken {
		if c < 33 || c > 126 {
			return nil, invalid("clientToken contains characters outside 33-126.")
		}
	}
	if in.StartedBy != "" && !startedByPattern.MatchString(in.StartedBy) {
		return nil, invalid("startedBy may contain up to 128 letters, numbers, hyphens, forward slashes and underscores.")
	}
	if len(in.Tags) > 50 {
		return nil, invalid("Tags cannot be more than 50.")
	}
	for _, tg := range in.Tags {
		if tg.Key == "" || len([]rune(tg.Key)) > 128 || len([]rune(tg.Value)) > 256 {
			return nil, invalid("Tag keys must be 1 to 128 characters and values at most 256.")
		}
		if strings.HasPrefix(strings.ToLower(tg.Key), "aws:") {
			return nil, invalid("Tag keys beginning with aws: are reserved.")
		}
	}
	if in.Overrides != nil {
		if raw, _ := json.Marshal(in.Overrides); len(raw) > 8192 {
			return nil, invalid("Container Overrides length must be at most 8192")
		}
	}
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count != 1 {
		// The fake runs one task per call; deployer never asks for more.
		return nil, invalid("this fake runs one task per RunTask call")
	}
	cluster := clusterName(in.Cluster)
	fam := family(in.TaskDefinition)
	containers, ok := f.opts.TaskDefinitions[fam]
	if !ok {
		return nil, awsfake.ClientError("ClientException", "Unable to find task definition.")
	}
	if len(containers) == 0 {
		containers = []string{"app"}
	}
	var params string
	if in.ClientToken != "" {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		delete(m, "clientToken")
		raw, _ := json.Marshal(m)
		params = string(raw)
		if e, ok := f.tokens[cluster+"\x00"+in.ClientToken]; ok {
			if e.params != params {
				return nil, awsfake.ClientError("ConflictException",
					"The specified client token has already been used in a RunTask request with different parameters.")
			}
			return e.answer, nil
		}
	}
	if f.closed {
		return nil, &awsfake.Error{Status: http.StatusServiceUnavailable, Code: "ServerException", Message: "the fake is closed"}
	}
	if len(f.runFails) > 0 {
		fl := f.runFails[0]
		f.runFails = f.runFails[1:]
		if strings.HasPrefix(fl.Reason, "RESOURCE:") && fl.Arn == "" {
			fl.Arn = f.instanceARN(cluster)
		}
		return runTaskOutput{Tasks: []taskOut{}, Failures: []failure{fl}}, nil
	}

	t := &task{
		id: newTaskID(), cluster: cluster, clusterARN: f.arn("cluster/" + cluster),
		startedBy: in.StartedBy, family: fam, taskDefARN: f.arn("task-definition/" + fam + ":1"),
		group: in.Group, launchType: in.LaunchType,
		created: time.Now(), lastStatus: "PROVISIONING", desiredStatus: "RUNNING", containerStatus: "PENDING",
		tags: slices.Clone(in.Tags), runTags: slices.Clone(in.Tags), overrides: in.Overrides,
		containers: containers, container: containers[0], env: map[string]string{}, version: 1,
		stopReq: make(chan struct{}), signals: make(chan syscall.Signal, 4),
	}
	if t.group == "" {
		t.group = "family:" + fam
	}
	if t.launchType == "" {
		t.launchType = "EC2"
	}
	t.arn = f.arn("task/" + cluster + "/" + t.id)
	if o := in.Overrides; o != nil {
		if o.CPU != nil {
			t.cpu = *o.CPU
		}
		if o.Memory != nil {
			t.memory = *o.Memory
		}
		for i, co := range o.ContainerOverrides {
			if co.Name == nil || !slices.Contains(containers, *co.Name) {
				name := ""
				if co.Name != nil {
					name = *co.Name
				}
				return nil, invalid("Override for container named %s is not a container in the TaskDefinition.", name)
			}
			if i == 0 {
				t.container = *co.Name
				t.command = co.Command
				for _, kv := range co.Environment {
					t.env[kv.Name] = kv.Value
				}
			}
		}
	}
	if c := f.opts.Capacity; c != nil {
		usedCPU, usedMem := 0, 0
		for _, o := range f.order {
			if o.cluster == cluster && o.lastStatus != "STOPPED" {
				usedCPU += size(o.cpu)
				usedMem += size(o.memory)
			}
		}
		reason := ""
		switch {
		case usedMem+size(t.memory) > c.Memory:
			reason = "RESOURCE:MEMORY"
		case usedCPU+size(t.cpu) > c.CPU:
			reason = "RESOURCE:CPU"
		}
		if reason != "" {
			return runTaskOutput{Tasks: []taskOut{}, Failures: []failure{{Arn: f.instanceARN(cluster), Reason: reason}}}, nil
		}
		t.instanceARN = f.instanceARN(cluster)
	}
	t.plan = Plan{}
	if f.opts.Behave != nil {
		t.plan = f.opts.Behave(in.TaskDefinition, slices.Clone(t.command), maps.Clone(t.env))
	}
	f.tasks[t.id] = t
	f.order = append(f.order, t)
	out := runTaskOutput{Tasks: []taskOut{f.render(t, true)}, Failures: []failure{}}
	if in.ClientToken != "" {
		f.tokens[cluster+"\x00"+in.ClientToken] = tokenEntry{params: params, answer: out}
	}
	f.touch(t)
	f.wg.Add(1)
	go f.life(t)
	return out, nil
}

func (f *Fake) render(t *task, withTags bool) taskOut {
	c := containerOut{
		ContainerArn: f.arn("container/" + t.cluster + "/" + t.id + "/" + t.container),
		TaskArn:      t.arn, Name: t.container, ExitCode: t.exitCode, LastStatus: t.containerStatus,
	}
	if t.containerReason != "" {
		r := t.containerReason
		c.Reason = &r
	}
	out := taskOut{
		TaskArn: t.arn, ClusterArn: t.clusterARN, TaskDefinitionArn: t.taskDefARN, ContainerInstArn: t.instanceARN,
		LastStatus: t.lastStatus, DesiredStatus: t.desiredStatus, StartedBy: t.startedBy,
		Group: t.group, LaunchType: t.launchType, CPU: t.cpu, Memory: t.memory,
		CreatedAt: at(t.created), PullStartedAt: at(t.pullStarted), PullStoppedAt: at(t.pullStopped),
		StartedAt: at(t.started), StoppingAt: at(t.stopping), ExecutionStoppedAt: at(t.executionStopped), StoppedAt: at(t.stopped),
		StopCode: t.stopCode, StoppedReason: t.stoppedReason,
		Containers: []containerOut{c}, Overrides: t.overrides, Version: t.version,
	}
	if withTags && len(t.tags) > 0 {
		out.Tags = slices.Clone(t.tags)
	}
	return out
}

// lookup finds a task by id or ARN in a cluster.
func (f *Fake) lookup(cluster, ref string) *task {
	t := f.tasks[idOf(ref)]
	if t == nil || t.cluster != cluster {
		return nil
	}
	return t
}

func (f *Fake) describeTasks(body []byte) (any, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, invalid("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, invalid("Tasks cannot have more than 100 elements")
	}
	cluster := clusterName(in.Cluster)
	withTags := slices.Contains(in.Include, "TAGS")
	out := struct {
		Tasks    []taskOut `json:"tasks"`
		Failures []failure `json:"failures"`
	}{Tasks: []taskOut{}, Failures: []failure{}}
	seen := map[string]bool{}
	for _, ref := range in.Tasks {
		t := f.lookup(cluster, ref)
		if t == nil {
			a := ref
			if !strings.HasPrefix(ref, "arn:") {
				a = f.arn("task/" + cluster + "/" + ref)
			}
			out.Failures = append(out.Failures, failure{Arn: a, Reason: "MISSING"})
			continue
		}
		if seen[t.id] {
			continue
		}
		seen[t.id] = true
		out.Tasks = append(out.Tasks, f.render(t, withTags))
	}
	return out, nil
}

func (f *Fake) listTasks(body []byte) (any, error) {
	var in struct {
		Cluster       string `json:"cluster"`
		StartedBy     string `json:"startedBy"`
		Family        string `json:"family"`
		DesiredStatus string `json:"desiredStatus"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalid("maxResults must be between 1 and 100.")
		}
		limit = *in.MaxResults
	}
	if in.DesiredStatus == "" {
		in.DesiredStatus = "RUNNING"
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return nil, invalid("Invalid nextToken.")
		}
		start = n
	}
	cluster := clusterName(in.Cluster)
	var arns []string
	for _, t := range f.order {
		if t.cluster != cluster || (in.StartedBy != "" && t.startedBy != in.StartedBy) ||
			(in.Family != "" && t.family != in.Family) || t.desiredStatus != in.DesiredStatus {
			continue
		}
		arns = append(arns, t.arn)
	}
	out := struct {
		TaskArns  []string `json:"taskArns"`
		NextToken string   `json:"nextToken,omitempty"`
	}{TaskArns: []string{}}
	if start < len(arns) {
		end := min(start+limit, len(arns))
		out.TaskArns = arns[start:end]
		if end < len(arns) {
			out.NextToken = strconv.Itoa(end)
		}
	}
	return out, nil
}

func (f *Fake) stopTask(body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(in.Reason) > 255 {
		return nil, invalid("Reason must be at most 255 characters.")
	}
	t := f.lookup(clusterName(in.Cluster), in.Task)
	if t == nil {
		return nil, invalid("The referenced task was not found.")
	}
	if t.desiredStatus != "STOPPED" {
		t.desiredStatus = "STOPPED"
		t.stopCode = "UserInitiated"
		t.stoppedReason = in.Reason
		if t.stoppedReason == "" {
			t.stoppedReason = ReasonStoppedByUser
		}
		t.stopping = time.Now()
		t.userStop = true
		close(t.stopReq)
		if t.containerStatus == "RUNNING" {
			f.stopContainer(t)
		}
		f.touch(t)
	}
	return struct {
		Task taskOut `json:"task"`
	}{f.render(t, true)}, nil
}
