package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// RunOrderName is the schema name of run orders (see SchemaName).
const RunOrderName = "run_order"

// RunOrder is a request the gatekeeper accepted, fully resolved by policy.
// Workers act on run orders only; they never consult the request's
// unvalidated fields.
type RunOrder struct {
	Schema  string     `json:"schema"`
	JobID   string     `json:"job_id"`
	Attempt int        `json:"attempt"`
	Request JobRequest `json:"request"`

	Container string `json:"container"`
	Script    string `json:"script"`
	// Argv is the final argument vector after the script name: hardcoded
	// options first, then the caller's vetted arguments, hardcoded args last.
	Argv []string `json:"argv"`
	// Canary marks the order of a canary request (JobRequest.Canary): its
	// task runs the entrypoint's version probe (CanaryCommand) instead of
	// a script, so Script and Argv are empty. It never retries and never
	// dead-letters, and a worker runs it outside the lanes' limits: it
	// takes no lane slot (see the worker package).
	Canary bool `json:"canary,omitempty"`

	// Image and TaskDefinition select the task on container backends.
	Image          string `json:"image,omitempty"`
	TaskDefinition string `json:"task_definition,omitempty"`
	// ScriptsDir is where the local runner finds the script: it executes
	// ScriptsDir/Script. Absolute.
	ScriptsDir string `json:"scripts_dir,omitempty"`

	Environment map[string]string `json:"environment,omitempty"`
	// Secrets maps environment variable names to secret references
	// (never values); they are resolved inside the task.
	Secrets map[string]string `json:"secrets,omitempty"`

	TaskCPU    int         `json:"task_cpu,omitempty"`
	TaskMemory int         `json:"task_memory,omitempty"`
	LaunchType string      `json:"launch_type,omitempty"`
	Timeout    Duration    `json:"timeout"`
	Retry      RetryPolicy `json:"retry"`
	// DeadLetterOn lists the outcomes that dead-letter the job, as the
	// policy resolved them; empty dead-letters none. nil (an order from a
	// gatekeeper that predates the field) means DefaultDeadLetterOn.
	DeadLetterOn []Outcome `json:"dead_letter_on,omitzero"`
	Lane         string    `json:"lane"`
	LaneLimit    int       `json:"lane_limit"`

	Caller     Identity  `json:"caller"`
	Stream     string    `json:"stream"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// RetryPolicy says when a job that ran and failed is run again
// automatically. The zero value never retries.
type RetryPolicy struct {
	// MaxAttempts is the total number of runs allowed, including the
	// first. 0 and 1 both mean "run once".
	MaxAttempts int `json:"max_attempts,omitempty"`
	// OnExitCodes lists the exit codes that may be retried; empty means a
	// task that ran is never retried, whatever MaxAttempts says.
	OnExitCodes []int `json:"on_exit_codes,omitempty"`
}

// DeadLetters reports whether the job is dead-lettered when it ends with
// outcome. Succeeded and cancelled jobs and canaries never are.
func (o *RunOrder) DeadLetters(outcome Outcome) bool {
	if o.Canary || outcome == OutcomeSucceeded || outcome == OutcomeCancelled {
		return false
	}
	on := o.DeadLetterOn
	if on == nil {
		on = DefaultDeadLetterOn()
	}
	for _, x := range on {
		if x == outcome {
			return true
		}
	}
	return false
}

// Identity is a caller identity as verified by the queue, not as claimed.
type Identity struct {
	// Principal is the verified caller: an IAM principal ARN on AWS, the
	// OS user ("user:alice") on the embedded backend.
	Principal string `json:"principal"`
	// Source says how it was verified ("sqs_sender_id", "os_user").
	Source string `json:"source"`
}

// Validate checks the order's own shape.
func (o *RunOrder) Validate() error {
	switch {
	case !ValidJobID(o.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, o.JobID)
	case o.Attempt < 1:
		return fmt.Errorf("%w: attempt must be at least 1", ErrMalformed)
	case o.Container == "":
		return fmt.Errorf("%w: container is required", ErrMalformed)
	case o.Canary != o.Request.Canary:
		return fmt.Errorf("%w: canary is %t but the request's canary is %t", ErrMalformed, o.Canary, o.Request.Canary)
	case o.Canary && (o.Script != "" || len(o.Argv) > 0):
		return fmt.Errorf("%w: a canary runs no script and takes no arguments", ErrMalformed)
	case o.Canary && (o.Retry.MaxAttempts > 1 || len(o.Retry.OnExitCodes) > 0 || len(o.DeadLetterOn) > 0):
		return fmt.Errorf("%w: a canary is never retried nor dead-lettered", ErrMalformed)
	case !o.Canary && o.Script == "":
		return fmt.Errorf("%w: script is required", ErrMalformed)
	case o.Stream == "":
		return fmt.Errorf("%w: stream is empty", ErrMalformed)
	case o.Timeout <= 0:
		return fmt.Errorf("%w: timeout must be positive", ErrMalformed)
	case o.Lane == "" || o.LaneLimit < 1:
		return fmt.Errorf("%w: lane and a positive lane_limit are required", ErrMalformed)
	}
	return nil
}

// Encode sets the schema and encodes the order.
func (o RunOrder) Encode() ([]byte, error) {
	o.Schema = RunOrderV1
	o.Request.Schema = JobRequestV1
	return json.Marshal(o)
}

// DecodeRunOrder decodes and validates a run order.
func DecodeRunOrder(data []byte) (RunOrder, error) {
	var o RunOrder
	if err := decode(data, RunOrderV1, &o); err != nil {
		return RunOrder{}, err
	}
	return o, o.Validate()
}
