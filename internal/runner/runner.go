// Package runner is the port for running tasks: start one, find it again,
// inspect it, stop it. A task outlives the process that started it (an ECS
// task outlives its caller; the local runner's supervisor outlives the
// worker), so a worker that restarts adopts tasks instead of starting them
// again. Adapters: local (processes on this host), ecs. runnertest is the
// conformance suite.
package runner

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound means no such task.
	ErrNotFound = errors.New("task not found")
	// ErrCapacity means the backend cannot place the task now; retry later.
	ErrCapacity = errors.New("no capacity to start task")
	// ErrThrottled means the backend asked the caller to slow down; retryable.
	ErrThrottled = errors.New("runner throttled")
	// ErrInvalidSpec means the task can never start as specified (missing
	// script, unknown task definition); not retryable.
	ErrInvalidSpec = errors.New("invalid task spec")
	// ErrMissingDefinition means what defines the task is not there: an
	// ECS task definition that does not exist or is inactive, a local
	// scripts directory that does not exist. An error wrapping it also
	// wraps ErrInvalidSpec.
	ErrMissingDefinition = errors.New("task definition missing")
)

// Spec is everything needed to start a job's task.
type Spec struct {
	JobID   string
	Attempt int
	// Container and Script name what runs; Argv follows the script name.
	Container string
	Script    string
	Argv      []string
	// Canary runs the entrypoint's version probe ("deployer-task
	// --version", see schemas.CanaryCommand) instead of a script: Script
	// and Argv are empty, and the task is started as any other, through
	// the image's entrypoint (ECS) or the local task entrypoint, so that it
	// proves they start.
	Canary bool
	// ScriptsDir (local), Image and TaskDefinition (ECS) locate it.
	ScriptsDir     string
	Image          string
	TaskDefinition string
	// Env is set in the task; Secrets maps variable names to references
	// the task resolves itself.
	Env        map[string]string
	Secrets    map[string]string
	CPU        int
	Memory     int
	LaunchType string
	// Tags are attached to the task (job id, lane, caller).
	Tags map[string]string
}

// Status is a task's lifecycle state.
type Status string

// Task states.
const (
	StatusPending Status = "pending" // accepted, not running yet
	StatusRunning Status = "running"
	StatusStopped Status = "stopped" // ended; see ExitCode and StopCode
)

// Stop codes: why a stopped task stopped.
const (
	StopExited        = "exited"          // the script exited by itself
	StopRequested     = "stop_requested"  // Stop was called
	StopFailedToStart = "failed_to_start" // the script never ran
	StopLost          = "lost"            // the task vanished without an exit status
)

// Task is a task as last observed.
type Task struct {
	ID      string
	JobID   string
	Attempt int
	Status  Status
	// ExitCode is set once the task has stopped and its script exited.
	ExitCode *int
	// StopCode is one of the Stop* constants once Status is stopped;
	// StopReason says more in words.
	StopCode   string
	StopReason string
	StartedAt  time.Time
	StoppedAt  time.Time
	// LogEvents is how many lines the task has written so far; -1 when
	// the backend cannot tell.
	LogEvents int64
	Tags      map[string]string
}

// Runner starts and tracks tasks.
type Runner interface {
	// Start starts the task of spec.JobID and spec.Attempt, or returns the
	// task already started for them: it never starts two.
	Start(ctx context.Context, spec Spec) (Task, error)
	// Find returns the task of a job and attempt; ErrNotFound when none
	// was started.
	Find(ctx context.Context, jobID string, attempt int) (Task, error)
	// Inspect returns the current state of the tasks with these ids, in
	// any order; ids it does not know are left out.
	Inspect(ctx context.Context, ids ...string) ([]Task, error)
	// Stop asks the task to stop (SIGTERM, then SIGKILL after a grace
	// period, or StopTask). Stopping a stopped task is not an error.
	Stop(ctx context.Context, id, reason string) error
}
