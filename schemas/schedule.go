package schemas

import (
	"encoding/json"
	"fmt"
)

// ScheduleRequestV1 is the body an EventBridge Scheduler schedule sends
// to the request queue on AWS; ScheduleRequestName its schema name.
const (
	ScheduleRequestV1   = "schedule_request/v1"
	ScheduleRequestName = "schedule_request"
)

// ScheduleRequest asks the gatekeeper to run a schedule of its
// configuration now. It names the schedule only: the container, script
// and arguments come from the gatekeeper's configuration, never from the
// message, and the gatekeeper makes the job's id and stream. The sender,
// as the queue verified it, is the caller that allowed_callers checks.
type ScheduleRequest struct {
	Schema   string `json:"schema"`
	Schedule string `json:"schedule"`
}

// Validate checks the request's own shape.
func (r *ScheduleRequest) Validate() error {
	if !ValidName(r.Schedule) {
		return fmt.Errorf("%w: schedule %q is not a schedule name", ErrMalformed, r.Schedule)
	}
	return nil
}

// Encode sets the schema and encodes the request.
func (r ScheduleRequest) Encode() ([]byte, error) {
	r.Schema = ScheduleRequestV1
	return json.Marshal(r)
}

// DecodeScheduleRequest decodes and validates a schedule request.
func DecodeScheduleRequest(data []byte) (ScheduleRequest, error) {
	var r ScheduleRequest
	if err := decode(data, ScheduleRequestV1, &r); err != nil {
		return ScheduleRequest{}, err
	}
	return r, r.Validate()
}
