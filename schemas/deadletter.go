package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// DeadLetter is a failed job parked for a person to inspect and replay.
type DeadLetter struct {
	Schema string `json:"schema"`
	JobID  string `json:"job_id,omitempty"`
	// Request is the original request as the caller sent it; replay
	// resubmits it through the gatekeeper.
	Request *JobRequest `json:"request,omitempty"`
	// Order is the run order the gatekeeper resolved, when there was one.
	Order *RunOrder `json:"order,omitempty"`
	// Raw holds the original message body when it could not be decoded.
	Raw     string  `json:"raw,omitempty"`
	Failure Failure `json:"failure"`
}

// Failure says why a job was dead-lettered.
type Failure struct {
	Outcome    Outcome   `json:"outcome,omitempty"`
	Reason     string    `json:"reason"`
	ReasonCode string    `json:"reason_code"`
	ExitCode   *int      `json:"exit_code,omitempty"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	Time       time.Time `json:"time"`
}

// Encode sets the schema and encodes the dead letter.
func (d DeadLetter) Encode() ([]byte, error) {
	d.Schema = DeadLetterV1
	return json.Marshal(d)
}

// DecodeDeadLetter decodes a dead letter.
func DecodeDeadLetter(data []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := decode(data, DeadLetterV1, &d); err != nil {
		return DeadLetter{}, err
	}
	if d.Failure.ReasonCode == "" {
		return DeadLetter{}, fmt.Errorf("%w: dead letter has no failure reason_code", ErrMalformed)
	}
	return d, nil
}
