package schemas_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

func canaryRequest() schemas.JobRequest {
	return schemas.JobRequest{
		JobID: jobID, Container: "terraform-planner", Canary: true, Args: schemas.Args{Words: []string{}}, Stream: "sqs:https://q/jobs-" + jobID,
		Caller: schemas.CallerMetadata{User: "alice"}, Attempt: 1, SubmittedAt: when,
	}
}

func canaryOrder() schemas.RunOrder {
	req := canaryRequest()
	return schemas.RunOrder{
		JobID: jobID, Attempt: 1, Request: req, Container: "terraform-planner", Canary: true,
		TaskDefinition: "terraform-planner", Timeout: schemas.Duration(5 * time.Minute),
		DeadLetterOn: []schemas.Outcome{}, Lane: "default", LaneLimit: 3,
		Caller: schemas.Identity{Principal: "user:alice", Source: "os_user"}, Stream: req.Stream, AcceptedAt: when,
	}
}

func TestCanaryMessagesRoundTrip(t *testing.T) {
	req := canaryRequest()
	b, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := schemas.DecodeJobRequest(b)
	req.Schema = schemas.JobRequestV1
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Errorf("canary request round trip:\n got %+v, %v\nwant %+v", got, err, req)
	}
	order := canaryOrder()
	b, err = order.Encode()
	if err != nil {
		t.Fatal(err)
	}
	gotOrder, err := schemas.DecodeRunOrder(b)
	order.Schema, order.Request.Schema = schemas.RunOrderV1, schemas.JobRequestV1
	if err != nil || !reflect.DeepEqual(gotOrder, order) {
		t.Errorf("canary order round trip:\n got %+v, %v\nwant %+v", gotOrder, err, order)
	}
	for _, outcome := range []schemas.Outcome{schemas.OutcomeFailed, schemas.OutcomeCouldNotStart, schemas.OutcomeTimedOut, schemas.OutcomeLost} {
		if gotOrder.DeadLetters(outcome) {
			t.Errorf("a canary that ended %s is dead-lettered", outcome)
		}
	}
}

// A canary request names its container only; a canary order runs no
// script and is never retried nor dead-lettered; a script order without
// a script stays malformed. Anything else is refused as malformed.
func TestCanaryMessagesRejectBadInput(t *testing.T) {
	for name, change := range map[string]func(*schemas.JobRequest){
		"script":      func(r *schemas.JobRequest) { r.Script = "plan" },
		"args":        func(r *schemas.JobRequest) { r.Args = schemas.ArgList("--ref", "main") },
		"legacy args": func(r *schemas.JobRequest) { r.Args = schemas.Args{IsLegacy: true} },
		"cpu":         func(r *schemas.JobRequest) { r.TaskCPU = 256 },
		"memory":      func(r *schemas.JobRequest) { r.TaskMemory = 512 },
		"launch type": func(r *schemas.JobRequest) { r.LaunchType = "EC2" },
		"timeout":     func(r *schemas.JobRequest) { r.Timeout = schemas.Duration(time.Hour) },
		"batch": func(r *schemas.JobRequest) {
			r.BatchID, r.Batch = "batch-01HZX3K8Q9M2N4P5R6S7T8V9W1", &schemas.BatchSpec{Name: "b", Size: 1, Index: 1}
		},
		"replay":       func(r *schemas.JobRequest) { r.ReplayOf = "01HZX3K8Q9M2N4P5R6S7T8V9W1" },
		"no container": func(r *schemas.JobRequest) { r.Container = "" },
		"not a canary": func(r *schemas.JobRequest) { r.Canary = false },
	} {
		r := canaryRequest()
		change(&r)
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schemas.DecodeJobRequest(b); !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("canary request with %s: error %v, want ErrMalformed", name, err)
		}
	}
	for name, change := range map[string]func(*schemas.RunOrder){
		"script":            func(o *schemas.RunOrder) { o.Script = "plan" },
		"argv":              func(o *schemas.RunOrder) { o.Argv = []string{"--ref"} },
		"retries":           func(o *schemas.RunOrder) { o.Retry = schemas.RetryPolicy{MaxAttempts: 2, OnExitCodes: []int{1}} },
		"dead letters":      func(o *schemas.RunOrder) { o.DeadLetterOn = []schemas.Outcome{schemas.OutcomeFailed} },
		"request no canary": func(o *schemas.RunOrder) { o.Request.Canary = false },
		"order no canary":   func(o *schemas.RunOrder) { o.Canary = false },
	} {
		o := canaryOrder()
		change(&o)
		b, err := o.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schemas.DecodeRunOrder(b); !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("canary order with %s: error %v, want ErrMalformed", name, err)
		}
	}
}
