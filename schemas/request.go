package schemas

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// JobRequest is what a caller asks for: run one script of one container
// with these arguments. It is untrusted until the gatekeeper has checked it.
type JobRequest struct {
	Schema string `json:"schema"`
	// JobID is made by the producer; it is sortable (a ULID) and unique.
	JobID string `json:"job_id"`
	// Container and Script name an allow-listed script.
	Container string `json:"container"`
	Script    string `json:"script"`
	Args      Args   `json:"args"`
	// Canary asks for a canary of Container instead of a script: its task
	// runs the image's entrypoint with deployer-task's version probe
	// (CanaryCommand) and no script, proving that the container's task
	// starts and that its entrypoint is deployer-task. A canary request
	// names no script, no arguments, no override, no batch and replays
	// nothing. A gatekeeper that predates the field ignores it and refuses
	// the request as malformed (its script is empty).
	Canary bool `json:"canary,omitempty"`

	// Optional overrides, each checked against the container's policy.
	TaskCPU    int      `json:"task_cpu,omitempty"`
	TaskMemory int      `json:"task_memory,omitempty"`
	LaunchType string   `json:"launch_type,omitempty"`
	Timeout    Duration `json:"timeout,omitempty"`

	// Stream is the address of this job's event stream, made by the producer
	// before the request is enqueued.
	Stream string `json:"stream"`

	// Caller describes where the request came from, as the caller says. It
	// is informational: authorization uses the identity the queue verified.
	Caller CallerMetadata `json:"caller,omitzero"`

	// BatchID and Batch are set, together, on the jobs of a batch
	// ("deployer batch run").
	BatchID  string     `json:"batch_id,omitempty"`
	Batch    *BatchSpec `json:"batch,omitempty"`
	ReplayOf string     `json:"replay_of,omitempty"`
	// Attempt counts submissions of the same logical job; 1 for the first.
	Attempt int `json:"attempt"`
	// TraceParent is a W3C trace context header value: the producer's
	// enqueue span, under the caller's trace (CI's TRACEPARENT). The
	// gatekeeper decides the request in a child of it.
	TraceParent string    `json:"traceparent,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// CallerMetadata is the caller's own description of its context.
type CallerMetadata struct {
	CIProvider string `json:"ci_provider,omitempty"`
	Repo       string `json:"repo,omitempty"`
	Ref        string `json:"ref,omitempty"`
	SHA        string `json:"sha,omitempty"`
	RunURL     string `json:"run_url,omitempty"`
	User       string `json:"user,omitempty"`
	// Schedule and ScheduledAt are set on the jobs a schedule fired: its
	// name and the due time the job is for.
	Schedule    string    `json:"schedule,omitempty"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

// ValidJobID reports whether id has the shape of a job id: a ULID, or an
// id derived from one ("<ulid>-r2"),
// ^[0-9A-HJKMNP-TV-Z]{26}(-[a-z0-9]{1,16})?$. The id names queues and
// directories, so it is deliberately narrow.
func ValidJobID(id string) bool {
	if len(id) < 26 || !isULID(id[:26]) {
		return false
	}
	suffix := id[26:]
	if suffix == "" {
		return true
	}
	if suffix[0] != '-' || len(suffix) < 2 || len(suffix) > 17 {
		return false
	}
	for i := 1; i < len(suffix); i++ {
		if c := suffix[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Validate checks the request's own shape (not policy).
func (r *JobRequest) Validate() error {
	switch {
	case !ValidJobID(r.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, r.JobID)
	case r.Container == "":
		return fmt.Errorf("%w: container is empty", ErrMalformed)
	case r.Canary:
		if err := r.validateCanary(); err != nil {
			return err
		}
	case r.Script == "":
		return fmt.Errorf("%w: script is empty", ErrMalformed)
	}
	switch {
	case r.Stream == "":
		return fmt.Errorf("%w: stream is empty", ErrMalformed)
	case r.Attempt < 1:
		return fmt.Errorf("%w: attempt must be at least 1, got %d", ErrMalformed, r.Attempt)
	case r.TaskCPU < 0 || r.TaskMemory < 0:
		return fmt.Errorf("%w: task_cpu and task_memory must not be negative", ErrMalformed)
	case r.BatchID != "" && !ValidBatchID(r.BatchID):
		return fmt.Errorf("%w: batch_id %q is not a valid batch id", ErrMalformed, r.BatchID)
	case (r.BatchID == "") != (r.Batch == nil):
		return fmt.Errorf("%w: batch_id and batch go together", ErrMalformed)
	}
	if r.Batch != nil {
		return r.Batch.validate()
	}
	return nil
}

// validateCanary checks what a canary request must leave empty.
func (r *JobRequest) validateCanary() error {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"script", r.Script != ""},
		{"args", len(r.Args.Words) > 0 || r.Args.IsLegacy},
		{"task_cpu", r.TaskCPU != 0},
		{"task_memory", r.TaskMemory != 0},
		{"launch_type", r.LaunchType != ""},
		{"timeout", r.Timeout != 0},
		{"batch_id", r.BatchID != "" || r.Batch != nil},
		{"replay_of", r.ReplayOf != ""},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("%w: a canary request runs the version probe of its container only, so it takes no %s", ErrMalformed, strings.Join(set, ", "))
	}
	return nil
}

// CanaryCommand is what a canary's task runs: the image's entrypoint,
// deployer-task, with its version probe, which prints CanaryVersionPrefix
// and the version.
const CanaryCommand = "deployer-task --version"

// CanaryVersionPrefix starts the line deployer-task's version probe
// prints: "deployer-task v1.2.3".
const CanaryVersionPrefix = "deployer-task "

// Encode sets the schema and encodes the request.
func (r JobRequest) Encode() ([]byte, error) {
	r.Schema = JobRequestV1
	return json.Marshal(r)
}

// DecodeJobRequest decodes and validates a job request.
func DecodeJobRequest(data []byte) (JobRequest, error) {
	var r JobRequest
	if err := decode(data, JobRequestV1, &r); err != nil {
		return JobRequest{}, err
	}
	return r, r.Validate()
}
