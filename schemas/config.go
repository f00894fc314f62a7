package schemas

// Config is the allow-list: which containers and scripts callers may run,
// with what arguments, resources and identity. Anything not listed is
// refused. Load it with the gatekeeper's loader, which validates the whole
// document (against ConfigSchema and the rules the schema cannot express)
// before anything uses it.
type Config struct {
	// Lanes names the concurrency lanes and their global limits. A container
	// without a lane runs in DefaultLane.
	Lanes map[string]Lane `json:"lanes,omitempty"`
	// Containers are the container names callers may use. Required; at least
	// one.
	Containers map[string]Container `json:"containers"`
	// Schedules are jobs run on a schedule, by name. Defaults to none.
	Schedules map[string]Schedule `json:"schedules,omitempty"`
}

// Schedule is a job run on a schedule: each fire sends an ordinary job
// request, which the gatekeeper checks like any other.
type Schedule struct {
	// Cron is a 5-field cron expression (minute hour day-of-month month
	// day-of-week). Required.
	Cron string `json:"cron"`
	// TimeZone is the IANA zone Cron is read in. Defaults to UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Container and Script name an allow-listed script. Required.
	Container string `json:"container"`
	Script    string `json:"script"`
	// Args are the job's arguments. Defaults to none.
	Args []string `json:"args,omitempty"`
	// Caller is the identity the schedule runs as. The embedded scheduler
	// sends as ScheduleCaller(name) whatever it says; on AWS it names the
	// EventBridge Scheduler role. Defaults to ScheduleCaller(name).
	Caller string `json:"caller,omitempty"`
	// Overlap is what a fire does while the previous job of the schedule
	// has not ended: OverlapSkip, OverlapAllow or OverlapCancelPrevious.
	// Defaults to OverlapSkip.
	Overlap string `json:"overlap,omitempty"`
	// PauseAfterFailures pauses the schedule after that many consecutive
	// jobs that did not succeed. Defaults to 0: never pause.
	PauseAfterFailures int `json:"pause_after_failures,omitempty"`
}

// Overlap policies of a schedule.
const (
	OverlapSkip           = "skip"
	OverlapAllow          = "allow"
	OverlapCancelPrevious = "cancel-previous"
)

// ScheduleCallerPrefix starts the sender id of a schedule's requests on
// the embedded backend, and the allowed_callers patterns that name it.
const ScheduleCallerPrefix = "schedule:"

// ScheduleCaller is the identity the embedded scheduler sends a
// schedule's requests as: "schedule:NAME".
func ScheduleCaller(name string) string { return ScheduleCallerPrefix + name }

// EffectiveOverlap is s.Overlap, or OverlapSkip when it is empty.
func (s Schedule) EffectiveOverlap() string {
	if s.Overlap == "" {
		return OverlapSkip
	}
	return s.Overlap
}

// EffectiveTimeZone is s.TimeZone, or "UTC" when it is empty.
func (s Schedule) EffectiveTimeZone() string {
	if s.TimeZone == "" {
		return "UTC"
	}
	return s.TimeZone
}

// DefaultLane is the lane of containers that name none. Its limit is
// DefaultLaneLimit unless the configuration lists it.
const (
	DefaultLane      = "default"
	DefaultLaneLimit = 10
)

// Lane is a concurrency limit shared by every worker.
type Lane struct {
	// Concurrency is how many jobs of the lane may run at once across all
	// workers. Required, at least 1.
	Concurrency int `json:"concurrency"`
}

// Container is one runnable environment and the scripts it allows.
type Container struct {
	// Description is shown by "deployer describe".
	Description string `json:"description,omitempty"`
	// Image is the container image the AWS backend runs. Optional when
	// TaskDefinition is set.
	Image string `json:"image,omitempty"`
	// TaskDefinition is the ECS task definition family or ARN.
	TaskDefinition string `json:"task_definition,omitempty"`
	// Local configures the embedded backend's process runner.
	Local *LocalRunner `json:"local,omitempty"`

	// EnvironmentVars are set in the task's environment.
	EnvironmentVars map[string]string `json:"environment_vars,omitempty"`
	// Secrets maps environment variable names to secret references:
	// Secrets Manager ARNs or "secretsmanager:NAME", SSM parameter ARNs or
	// names, "env:NAME" or "file:/path" (internal/task/secret has the
	// syntax). References travel; values are resolved inside the task only.
	Secrets map[string]string `json:"secrets,omitempty"`

	// AllowedCallers lists principal patterns ("arn:aws:iam::123:role/ci-*",
	// "user:alice", "*") that may run this container. Absent means any
	// caller; an empty list means none.
	AllowedCallers []string `json:"allowed_callers,omitempty"`

	// Timeout is the job timeout. Defaults to 1h.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxTimeout caps caller overrides of Timeout. Defaults to Timeout (no
	// longer overrides).
	MaxTimeout Duration `json:"max_timeout,omitempty"`

	// TaskCPU and TaskMemory are the defaults (CPU units, MiB); MaxTaskCPU
	// and MaxTaskMemory cap overrides and default to the defaults.
	TaskCPU       int `json:"task_cpu,omitempty"`
	TaskMemory    int `json:"task_memory,omitempty"`
	MaxTaskCPU    int `json:"max_task_cpu,omitempty"`
	MaxTaskMemory int `json:"max_task_memory,omitempty"`

	// LaunchTypes allowed for this container; the first is the default.
	// Defaults to ["FARGATE"].
	LaunchTypes []string `json:"launch_types,omitempty"`

	// Lane is the concurrency lane. Defaults to DefaultLane.
	Lane string `json:"lane,omitempty"`
	// Retry is the default retry policy of the container's scripts.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// DeadLetterOn lists the outcomes of the container's scripts that
	// dead-letter the job (failed, timed_out, could_not_start, lost); an
	// empty list dead-letters none. Defaults to DefaultDeadLetterOn (every
	// failure).
	DeadLetterOn []Outcome `json:"dead_letter_on,omitzero"`

	// ScriptConfig lists the scripts that may run; anything else is refused.
	ScriptConfig map[string]ScriptConfig `json:"script_config"`
}

// LocalRunner configures how the embedded backend runs a container.
type LocalRunner struct {
	// ScriptsDir holds the scripts; the runner executes ScriptsDir/SCRIPT.
	// Relative paths are relative to the configuration file.
	ScriptsDir string `json:"scripts_dir"`
}

// ScriptConfig is the argument policy of one script, with the ECS deploy
// runner's semantics.
type ScriptConfig struct {
	// HardcodedOptions are prepended to every run, in sorted option order,
	// each value as its own "--opt value" pair; callers can neither override
	// nor repeat them.
	HardcodedOptions map[string][]string `json:"hardcoded_options,omitempty"`
	// HardcodedArgs are appended after everything else.
	HardcodedArgs []string `json:"hardcoded_args,omitempty"`
	// AllowPositionalArgs admits arguments that are not options.
	AllowPositionalArgs bool `json:"allow_positional_args,omitempty"`
	// AllowedOptions lists the options callers may pass. nil (absent or
	// null) allows any option; an empty list allows none.
	AllowedOptions []string `json:"allowed_options"`
	// AllowedOptionsWithoutArgs are flags that take no value.
	AllowedOptionsWithoutArgs []string `json:"allowed_options_without_args,omitempty"`
	// RestrictedOptions may never be passed.
	RestrictedOptions []string `json:"restricted_options,omitempty"`
	// RestrictedOptionsRegex constrains option values: each value must
	// match the whole expression.
	RestrictedOptionsRegex map[string]string `json:"restricted_options_regex,omitempty"`
	// RepeatableOptions may be passed more than once; any other option at
	// most once.
	RepeatableOptions []string `json:"repeatable_options,omitempty"`
	// AllowedRefs, when set, limits the git ref the caller runs from (the
	// request's caller.ref, and any --ref option) to whole-value matches of
	// these expressions, e.g. ["^main$", "^[0-9a-f]{40}$"] for apply.
	AllowedRefs []string `json:"allowed_refs,omitempty"`
	// AllowedCallers narrows the container's AllowedCallers for this script.
	AllowedCallers []string `json:"allowed_callers,omitempty"`
	// Timeout overrides the container's timeout for this script.
	Timeout Duration `json:"timeout,omitempty"`
	// Retry overrides the container's retry policy for this script.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// DeadLetterOn overrides the container's dead_letter_on for this
	// script ([] for none). Defaults to the container's.
	DeadLetterOn []Outcome `json:"dead_letter_on,omitzero"`
}

// DefaultDeadLetterOn returns the outcomes that dead-letter a job when the
// configuration names none: every failure (a cancelled job is never
// dead-lettered; a person asked for it).
func DefaultDeadLetterOn() []Outcome {
	return []Outcome{OutcomeFailed, OutcomeTimedOut, OutcomeCouldNotStart, OutcomeLost}
}
