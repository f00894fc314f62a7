package schemas_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// codec is one message type seen through its decoder: decode, and when
// that succeeds, the validation a consumer relies on and a re-encoding.
type codec struct {
	name   string
	decode func([]byte) (validate func() error, encode func() ([]byte, error), err error)
}

func codecOf[T any](name string, decode func([]byte) (T, error), validate func(*T) error, encode func(T) ([]byte, error)) codec {
	return codec{name, func(b []byte) (func() error, func() ([]byte, error), error) {
		v, err := decode(b)
		if err != nil {
			return nil, nil, err
		}
		val := func() error { return nil }
		if validate != nil {
			val = func() error { return validate(&v) }
		}
		return val, func() ([]byte, error) { return encode(v) }, nil
	}}
}

var codecs = []codec{
	codecOf("run_order", schemas.DecodeRunOrder, (*schemas.RunOrder).Validate, schemas.RunOrder.Encode),
	codecOf("job_event", schemas.DecodeJobEvent, (*schemas.JobEvent).Validate, schemas.JobEvent.Encode),
	codecOf("dead_letter", schemas.DecodeDeadLetter, nil, schemas.DeadLetter.Encode),
	codecOf("cancel_request", schemas.DecodeCancelRequest, (*schemas.CancelRequest).Validate, schemas.CancelRequest.Encode),
	codecOf("cancel_order", schemas.DecodeCancelOrder, (*schemas.CancelOrder).Validate, schemas.CancelOrder.Encode),
	codecOf("describe_request", schemas.DecodeDescribeRequest, (*schemas.DescribeRequest).Validate, schemas.DescribeRequest.Encode),
	codecOf("task_record", schemas.DecodeTaskRecord, (*schemas.TaskRecord).Validate, schemas.TaskRecord.Encode),
}

// FuzzDecodeMessages feeds every input to every decoder of a message that
// crosses a queue (the job request has its own target): whatever the bytes,
// a decoder returns a message that validates and survives a round trip
// unchanged, or an error wrapping one of the package's sentinels. No input
// panics.
func FuzzDecodeMessages(f *testing.F) {
	req := sampleRequest()
	exit, lines := 3, int64(2)
	order := schemas.RunOrder{
		JobID: jobID, Attempt: 1, Request: req, Container: "terraform-planner", Script: "plan",
		Argv: []string{"--path", "live/prod"}, Image: "img:1", Environment: map[string]string{"A": "1"},
		Secrets: map[string]string{"T": "env:T"}, Timeout: schemas.Duration(time.Hour), Lane: "default", LaneLimit: 1,
		Caller: schemas.Identity{Principal: "user:alice", Source: "os_user"}, Stream: req.Stream, AcceptedAt: when,
	}
	seeds := []interface{ Encode() ([]byte, error) }{
		order,
		canaryOrder(),
		schemas.JobEvent{JobID: jobID, ID: "e1", Time: when, Type: schemas.EventFinished, Source: "worker", Attempt: 1,
			Lines:   []schemas.LogLine{{Seq: 1, ID: "c1", Time: when, Text: "hello"}, {ID: "37711308226195", Time: when, Text: "late"}},
			Outcome: schemas.OutcomeFailed, ExitCode: &exit, ReasonCode: "task_failed", LogEvents: &lines},
		schemas.DeadLetter{JobID: jobID, Request: &req, Order: &order,
			Failure: schemas.Failure{Outcome: schemas.OutcomeFailed, Reason: "exit 3", ReasonCode: "task_failed", ExitCode: &exit, Attempts: 1, Time: when}},
		schemas.DeadLetter{Raw: "{not json", Failure: schemas.Failure{Reason: "undecodable", ReasonCode: "malformed", Time: when}},
		schemas.CancelRequest{JobID: jobID, RequestID: "01HZX3K8Q9M2N4P5R6S7T8V9W1", ReplyStream: req.Stream, Reason: "wrong ref", SubmittedAt: when},
		schemas.CancelOrder{JobID: jobID, Reason: "cancelled by user:alice", Caller: schemas.Identity{Principal: "user:alice", Source: "os_user"}},
		schemas.DescribeRequest{RequestID: jobID, ReplyStream: req.Stream, SubmittedAt: when},
		schemas.TaskRecord{JobID: jobID, Attempt: 1, Seq: 7, Part: 2, More: true, Time: when, Text: "<b>\x01\"é"},
		schemas.TaskRecord{JobID: jobID, Attempt: 1, Seq: 8, Time: when, End: &schemas.LogEnd{Lines: 7, ExitCode: &exit}},
	}
	for _, s := range seeds {
		b, err := s.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"job_event/v1","job_id":"x","lines":[{"seq":-1}]}`))
	f.Add([]byte(`{"schema":"run_order/v1","argv":[null],"timeout":"-1s"}`))
	f.Add([]byte(`{"schema":"dead_letter/v1","failure":{"reason_code":"x","time":"not a time"}}`))
	f.Add([]byte(`{"schema":"task_record/v1","job_id":"01JD3Q8Z5W6X7Y8Z9A0B1C2D3E","attempt":1,"seq":3,"end":{"lines":1}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs {
			validate, encode, err := c.decode(data)
			if err != nil {
				if !errors.Is(err, schemas.ErrMalformed) && !errors.Is(err, schemas.ErrUnsupportedSchema) && !errors.Is(err, schemas.ErrTooLarge) {
					t.Fatalf("%s: error %v wraps no sentinel", c.name, err)
				}
				continue
			}
			if err := validate(); err != nil {
				t.Fatalf("%s: decoded message does not validate: %v", c.name, err)
			}
			b1, err := encode()
			if err != nil {
				t.Fatalf("%s: re-encoding: %v", c.name, err)
			}
			_, encode2, err := c.decode(b1)
			if err != nil {
				t.Fatalf("%s: re-decoding %s: %v", c.name, b1, err)
			}
			b2, _ := encode2()
			if !bytes.Equal(b1, b2) {
				t.Fatalf("%s: round trip changed the message:\n%s\n%s", c.name, b1, b2)
			}
		}
	})
}
