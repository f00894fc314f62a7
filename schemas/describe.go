package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Schema of the describe request.
const (
	DescribeRequestV1   = "describe_request/v1"
	DescribeRequestName = "describe_request"
)

// DescribeRequest asks the gatekeeper what the caller may run (producer →
// request queue). On AWS callers hold no copy of the policy: the
// gatekeeper answers with what the verified caller may run, nothing more.
type DescribeRequest struct {
	Schema string `json:"schema"`
	// RequestID identifies the request (a ULID); the reply stream is
	// created under it.
	RequestID string `json:"request_id"`
	// ReplyStream is the address of the stream, made by the producer
	// before it enqueued the request, on which the gatekeeper answers with
	// one described (or rejected) event whose job id is RequestID.
	ReplyStream string         `json:"reply_stream"`
	Caller      CallerMetadata `json:"caller,omitzero"`
	SubmittedAt time.Time      `json:"submitted_at"`
}

// Validate checks the request's own shape.
func (r *DescribeRequest) Validate() error {
	switch {
	case !ValidJobID(r.RequestID):
		return fmt.Errorf("%w: request_id %q is not a valid id", ErrMalformed, r.RequestID)
	case r.ReplyStream == "":
		return fmt.Errorf("%w: reply_stream is empty", ErrMalformed)
	}
	return nil
}

// Encode sets the schema and encodes the request.
func (r DescribeRequest) Encode() ([]byte, error) {
	r.Schema = DescribeRequestV1
	return json.Marshal(r)
}

// DecodeDescribeRequest decodes and validates a describe request.
func DecodeDescribeRequest(data []byte) (DescribeRequest, error) {
	var r DescribeRequest
	if err := decode(data, DescribeRequestV1, &r); err != nil {
		return DescribeRequest{}, err
	}
	return r, r.Validate()
}

// ContainerInfo describes a container for "deployer describe": only what
// the caller may run.
type ContainerInfo struct {
	Name           string       `json:"name"`
	Description    string       `json:"description,omitempty"`
	Image          string       `json:"image,omitempty"`
	TaskDefinition string       `json:"task_definition,omitempty"`
	LaunchTypes    []string     `json:"launch_types"`
	TaskCPU        int          `json:"task_cpu,omitempty"`
	TaskMemory     int          `json:"task_memory,omitempty"`
	MaxTaskCPU     int          `json:"max_task_cpu,omitempty"`
	MaxTaskMemory  int          `json:"max_task_memory,omitempty"`
	Lane           string       `json:"lane"`
	LaneLimit      int          `json:"lane_limit"`
	Environment    []string     `json:"environment,omitempty"` // names only
	Secrets        []string     `json:"secrets,omitempty"`     // names only
	Scripts        []ScriptInfo `json:"scripts"`
}

// ScriptInfo describes a script's argument policy.
type ScriptInfo struct {
	Name string `json:"name"`
	// AnyOption is set when allowed_options is null: any option not
	// restricted is allowed.
	AnyOption                 bool              `json:"any_option"`
	AllowedOptions            []string          `json:"allowed_options"`
	AllowedOptionsWithoutArgs []string          `json:"allowed_options_without_args,omitempty"`
	RestrictedOptions         []string          `json:"restricted_options,omitempty"`
	OptionPatterns            map[string]string `json:"option_patterns,omitempty"`
	RepeatableOptions         []string          `json:"repeatable_options,omitempty"`
	AllowPositionalArgs       bool              `json:"allow_positional_args"`
	// HardcodedArgv is what every run starts with; HardcodedArgs what it
	// ends with.
	HardcodedArgv []string `json:"hardcoded_argv,omitempty"`
	HardcodedArgs []string `json:"hardcoded_args,omitempty"`
	AllowedRefs   []string `json:"allowed_refs,omitempty"`
	Timeout       Duration `json:"timeout"`
	MaxTimeout    Duration `json:"max_timeout"`
}
