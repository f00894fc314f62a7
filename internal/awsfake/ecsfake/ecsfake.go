package ecsfake

import (
	"bytes"
	"crypto/rand"
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
	"testing"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/internal/awsfake"
	entrypoint "github.com/deployerhq/deployer/internal/task"
)

// TargetPrefix is ECS's X-Amz-Target prefix.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113"

// Plan is how one task behaves once it runs.
type Plan struct {
	// Lines are written by the task when it starts running (handed to
	// Options.OnLog).
	Lines []string
	// ExitCode is the container's exit code when it exits by itself.
	ExitCode int
	// Sleep keeps the task RUNNING until StopTask.
	Sleep bool
	// Hold, when set, keeps a task that would exit RUNNING for as long as
	// it reports true, as if its container were still at work: a test
	// acts while the task runs, then lets it end. It is called under the
	// fake's lock, from DescribeTasks, so it must be quick.
	Hold func() bool
	// FailToStart, when set, makes the task stop before its container
	// starts (stop code TaskFailedToStart, no exit code), with this as the
	// stopped reason and the container's reason
	// ("CannotPullContainerError: ...").
	FailToStart string
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
	// overrides). Nil plans every task to exit 0 at once.
	Behave func(taskDefinition string, command []string, env map[string]string) Plan
	// OnLog, when set, receives a task's lines (by task id) when it starts
	// running, outside the fake's lock.
	OnLog func(taskID string, lines []string)
	// Framed makes tasks behave as images whose entrypoint is
	// deployer-task: OnLog receives their lines as task records (job and
	// attempt from the DEPLOYER_JOB_ID and DEPLOYER_ATTEMPT overrides,
	// long lines in parts) and the end record with the exit code, when
	// the task runs, or, for a sleeping task, when StopTask ends it.
	Framed bool
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
	// LastStatus is the task's current status; Ran says whether its
	// container started.
	LastStatus string
	Ran        bool
}

// Fake is the in-memory ECS. It is safe for concurrent use.
type Fake struct {
	opts Options

	mu        sync.Mutex
	tasks     map[string]*task // by task id
	order     []*task          // creation order
	tokens    map[string]tokenEntry
	runFails  []failure
	failNext  map[string][]*awsfake.Error
	callCount map[string]int
}

type tokenEntry struct {
	params string
	answer runTaskOutput
}

type task struct {
	id, arn, cluster, clusterARN, startedBy, family, taskDefARN string
	group, launchType, cpu, memory                              string
	created, started, stopping, stopped                         time.Time
	lastStatus, desiredStatus                                   string
	stopCode, stoppedReason                                     string
	tags, runTags                                               []tag
	overrides                                                   *taskOverride
	container                                                   string // the overridden (first) container
	containers                                                  []string
	command                                                     []string
	env                                                         map[string]string
	plan                                                        Plan
	exitCode                                                    *int
	containerReason                                             string
	ran                                                         bool
	version                                                     int64
	framed                                                      int64 // lines framed so far (Options.Framed)
}

// New returns a Fake.
func New(opts Options) *Fake {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	return &Fake{
		opts:      opts,
		tasks:     map[string]*task{},
		tokens:    map[string]tokenEntry{},
		failNext:  map[string][]*awsfake.Error{},
		callCount: map[string]int{},
	}
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

// Serve serves f alone on a loopback server closed when t ends, and
// returns its URL.
func (f *Fake) Serve(t testing.TB) string {
	t.Helper()
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
	out := make([]TaskInfo, 0, len(f.order))
	for _, t := range f.order {
		tags := map[string]string{}
		for _, tg := range t.runTags {
			tags[tg.Key] = tg.Value
		}
		out = append(out, TaskInfo{
			ID: t.id, ARN: t.arn, Cluster: t.cluster, StartedBy: t.startedBy, TaskDefinition: t.family,
			Tags: tags, Command: slices.Clone(t.command), Env: maps.Clone(t.env),
			LastStatus: t.lastStatus, Ran: t.ran,
		})
	}
	return out
}

func (f *Fake) op(name string, fn func(body []byte) (any, []func(), error)) awsfake.Operation {
	return func(_ *http.Request, body []byte) (any, error) {
		f.mu.Lock()
		f.callCount[name]++
		if q := f.failNext[name]; len(q) > 0 {
			f.failNext[name] = q[1:]
			f.mu.Unlock()
			return nil, q[0]
		}
		out, after, err := fn(body)
		f.mu.Unlock()
		for _, a := range after {
			a()
		}
		return out, err
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
	TaskArn           string         `json:"taskArn"`
	ClusterArn        string         `json:"clusterArn"`
	TaskDefinitionArn string         `json:"taskDefinitionArn"`
	LastStatus        string         `json:"lastStatus"`
	DesiredStatus     string         `json:"desiredStatus"`
	StartedBy         string         `json:"startedBy,omitempty"`
	Group             string         `json:"group,omitempty"`
	LaunchType        string         `json:"launchType,omitempty"`
	CPU               string         `json:"cpu,omitempty"`
	Memory            string         `json:"memory,omitempty"`
	CreatedAt         *epoch         `json:"createdAt,omitempty"`
	StartedAt         *epoch         `json:"startedAt,omitempty"`
	StoppingAt        *epoch         `json:"stoppingAt,omitempty"`
	StoppedAt         *epoch         `json:"stoppedAt,omitempty"`
	StopCode          string         `json:"stopCode,omitempty"`
	StoppedReason     string         `json:"stoppedReason,omitempty"`
	Containers        []containerOut `json:"containers"`
	Overrides         *taskOverride  `json:"overrides,omitempty"`
	Tags              []tag          `json:"tags,omitempty"`
	Version           int64          `json:"version"`
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

func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startedByPattern is what ECS admits in startedBy.
var startedByPattern = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)

func invalid(format string, args ...any) error {
	return awsfake.ClientError("InvalidParameterException", format, args...)
}

func (f *Fake) runTask(body []byte) (any, []func(), error) {
	var in runTaskInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, nil, err
	}
	if in.TaskDefinition == "" {
		return nil, nil, invalid("TaskDefinition cannot be empty.")
	}
	if len(in.ClientToken) > 64 {
		return nil, nil, invalid("clientToken must be at most 64 characters.")
	}
	for _, c := range in.ClientToken {
		if c < 33 || c > 126 {
			return nil, nil, invalid("clientToken contains characters outside 33-126.")
		}
	}
	if in.StartedBy != "" && !startedByPattern.MatchString(in.StartedBy) {
		return nil, nil, invalid("startedBy may contain up to 128 letters, numbers, hyphens, forward slashes and underscores.")
	}
	if len(in.Tags) > 50 {
		return nil, nil, invalid("Tags cannot be more than 50.")
	}
	for _, tg := range in.Tags {
		if tg.Key == "" || len([]rune(tg.Key)) > 128 || len([]rune(tg.Value)) > 256 {
			return nil, nil, invalid("Tag keys must be 1 to 128 characters and values at most 256.")
		}
		if strings.HasPrefix(strings.ToLower(tg.Key), "aws:") {
			return nil, nil, invalid("Tag keys beginning with aws: are reserved.")
		}
	}
	if in.Overrides != nil {
		if raw, _ := json.Marshal(in.Overrides); len(raw) > 8192 {
			return nil, nil, invalid("Container Overrides length must be at most 8192")
		}
	}
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count != 1 {
		// The fake runs one task per call; deployer never asks for more.
		return nil, nil, invalid("this fake runs one task per RunTask call")
	}
	cluster := clusterName(in.Cluster)
	fam := family(in.TaskDefinition)
	containers, ok := f.opts.TaskDefinitions[fam]
	if !ok {
		return nil, nil, awsfake.ClientError("ClientException", "Unable to find task definition.")
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
				return nil, nil, awsfake.ClientError("ConflictException",
					"The specified client token has already been used in a RunTask request with different parameters.")
			}
			return e.answer, nil, nil
		}
	}
	if len(f.runFails) > 0 {
		fl := f.runFails[0]
		f.runFails = f.runFails[1:]
		return runTaskOutput{Tasks: []taskOut{}, Failures: []failure{fl}}, nil, nil
	}

	t := &task{
		id: newTaskID(), cluster: cluster, clusterARN: f.arn("cluster/" + cluster),
		startedBy: in.StartedBy, family: fam, taskDefARN: f.arn("task-definition/" + fam + ":1"),
		group: in.Group, launchType: in.LaunchType,
		created: time.Now(), lastStatus: "PROVISIONING", desiredStatus: "RUNNING",
		tags: slices.Clone(in.Tags), runTags: slices.Clone(in.Tags), overrides: in.Overrides,
		containers: containers, container: containers[0], env: map[string]string{}, version: 1,
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
				return nil, nil, invalid("Override for container named %s is not a container in the TaskDefinition.", name)
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
	return out, nil, nil
}

// advance moves t one step along its life, returning what to do outside
// the lock.
func (f *Fake) advance(t *task) func() {
	now := time.Now()
	t.version++
	switch t.lastStatus {
	case "PROVISIONING":
		if t.desiredStatus == "STOPPED" {
			f.stop(t, now)
			return nil
		}
		if t.plan.FailToStart != "" {
			t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
			t.stopCode = "TaskFailedToStart"
			t.stoppedReason = t.plan.FailToStart
			t.containerReason = t.plan.FailToStart
			t.stopping, t.stopped = now, now
			return nil
		}
		t.lastStatus, t.started, t.ran = "RUNNING", now, true
		lines := slices.Clone(t.plan.Lines)
		if f.opts.Framed {
			var end *int
			if !t.plan.Sleep {
				end = &t.plan.ExitCode
			}
			lines = frame(t, lines, end)
		}
		if f.opts.OnLog != nil && len(lines) > 0 {
			id, onLog := t.id, f.opts.OnLog
			return func() { onLog(id, lines) }
		}
	case "RUNNING":
		if !t.plan.Sleep && (t.plan.Hold == nil || !t.plan.Hold()) {
			code := t.plan.ExitCode
			t.exitCode = &code
			t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
			t.stopCode = "EssentialContainerExited"
			t.stoppedReason = "Essential container in task exited"
			t.stopping, t.stopped = now, now
		}
	case "STOPPING":
		f.stop(t, now)
		if f.opts.Framed && f.opts.OnLog != nil && t.ran && t.plan.Sleep {
			id, onLog, lines := t.id, f.opts.OnLog, frame(t, nil, t.exitCode)
			return func() { onLog(id, lines) }
		}
	}
	return nil
}

// frame writes lines as deployer-task would, after the task's lines so
// far, and the end record when exit is set.
func frame(t *task, lines []string, exit *int) []string {
	attempt, _ := strconv.Atoi(t.env[entrypoint.EnvAttempt])
	var buf bytes.Buffer
	fr := entrypoint.NewFramerAt(&buf, t.env[entrypoint.EnvJobID], max(attempt, 1), t.framed)
	for _, l := range lines {
		fr.Line(l)
	}
	if exit != nil {
		code := *exit
		_ = fr.End(&code, "")
	} else {
		fr.Flush()
	}
	t.framed = fr.Lines()
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// stop ends a task StopTask asked to stop.
func (f *Fake) stop(t *task, now time.Time) {
	if t.ran {
		code := 143 // SIGTERM
		t.exitCode = &code
	}
	t.lastStatus = "STOPPED"
	t.stopped = now
	t.tags = nil // "Any tags associated with the task will be deleted."
}

func (f *Fake) render(t *task, withTags bool) taskOut {
	c := containerOut{
		ContainerArn: f.arn("container/" + t.cluster + "/" + t.id + "/" + t.container),
		TaskArn:      t.arn, Name: t.container, ExitCode: t.exitCode,
	}
	switch t.lastStatus {
	case "PROVISIONING":
		c.LastStatus = "PENDING"
	case "STOPPING":
		c.LastStatus = "RUNNING"
	default:
		c.LastStatus = t.lastStatus
	}
	if t.containerReason != "" {
		r := t.containerReason
		c.Reason = &r
	}
	out := taskOut{
		TaskArn: t.arn, ClusterArn: t.clusterARN, TaskDefinitionArn: t.taskDefARN,
		LastStatus: t.lastStatus, DesiredStatus: t.desiredStatus, StartedBy: t.startedBy,
		Group: t.group, LaunchType: t.launchType, CPU: t.cpu, Memory: t.memory,
		CreatedAt: at(t.created), StartedAt: at(t.started), StoppingAt: at(t.stopping), StoppedAt: at(t.stopped),
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
	id := ref
	if strings.HasPrefix(ref, "arn:") {
		i := strings.LastIndex(ref, "/")
		id = ref[i+1:]
	}
	t := f.tasks[id]
	if t == nil || t.cluster != cluster {
		return nil
	}
	return t
}

func (f *Fake) describeTasks(body []byte) (any, []func(), error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, nil, invalid("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, nil, invalid("Tasks cannot have more than 100 elements")
	}
	cluster := clusterName(in.Cluster)
	withTags := slices.Contains(in.Include, "TAGS")
	out := struct {
		Tasks    []taskOut `json:"tasks"`
		Failures []failure `json:"failures"`
	}{Tasks: []taskOut{}, Failures: []failure{}}
	var after []func()
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
		if fn := f.advance(t); fn != nil {
			after = append(after, fn)
		}
		out.Tasks = append(out.Tasks, f.render(t, withTags))
	}
	return out, after, nil
}

func (f *Fake) listTasks(body []byte) (any, []func(), error) {
	var in struct {
		Cluster       string `json:"cluster"`
		StartedBy     string `json:"startedBy"`
		Family        string `json:"family"`
		DesiredStatus string `json:"desiredStatus"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, nil, invalid("maxResults must be between 1 and 100.")
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
			return nil, nil, invalid("Invalid nextToken.")
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
	return out, nil, nil
}

func (f *Fake) stopTask(body []byte) (any, []func(), error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, nil, err
	}
	if utf8.RuneCountInString(in.Reason) > 255 {
		return nil, nil, invalid("Reason must be at most 255 characters.")
	}
	t := f.lookup(clusterName(in.Cluster), in.Task)
	if t == nil {
		return nil, nil, invalid("The referenced task was not found.")
	}
	if t.desiredStatus != "STOPPED" {
		t.desiredStatus = "STOPPED"
		t.stopCode = "UserInitiated"
		t.stoppedReason = in.Reason
		if t.stoppedReason == "" {
			t.stoppedReason = "Task stopped by user"
		}
		t.stopping = time.Now()
		if t.lastStatus == "RUNNING" {
			t.lastStatus = "STOPPING"
		}
		t.version++
	}
	return struct {
		Task taskOut `json:"task"`
	}{f.render(t, true)}, nil, nil
}
