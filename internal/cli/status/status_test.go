package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

func TestSummarizeShowsRequesterAndCancel(t *testing.T) {
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ev := func(typ schemas.EventType, f func(*schemas.JobEvent)) schemas.JobEvent {
		e := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: job, ID: string(typ), Time: at, Type: typ, Attempt: 1}
		if f != nil {
			f(&e)
		}
		return e
	}
	history := []schemas.JobEvent{
		ev(schemas.EventAccepted, func(e *schemas.JobEvent) {
			e.Container, e.Script, e.Argv, e.Principal = "infra", "apply", []string{"--ref", "main"}, "arn:aws:iam::1:role/ci"
			e.PolicyDigest = "sha256:0123456789ab"
		}),
		ev(schemas.EventStarted, func(e *schemas.JobEvent) { e.TaskID = "t-1" }),
		ev(schemas.EventCancelRequested, func(e *schemas.JobEvent) { e.Principal, e.Reason = "user:bob", "wrong ref" }),
		ev(schemas.EventCancelled, func(e *schemas.JobEvent) {
			e.Outcome, e.Reason = schemas.OutcomeCancelled, "cancelled: requested by user:bob: wrong ref"
		}),
	}
	var out bytes.Buffer
	if err := Summarize(&out, job, history); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"requester    arn:aws:iam::1:role/ci",
		"policy       sha256:0123456789ab (decided under)",
		"state        cancelled\n",
		"cancel       requested by user:bob: wrong ref",
		"exit status  deployer run would exit 130",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}

// A canary shows as one: its command is the version probe.
func TestSummarizeShowsACanary(t *testing.T) {
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	history := []schemas.JobEvent{{Schema: schemas.JobEventV1, JobID: job, ID: "a", Type: schemas.EventAccepted, Attempt: 1,
		Container: "infra", Canary: true}}
	var out bytes.Buffer
	if err := Summarize(&out, job, history); err != nil {
		t.Fatal(err)
	}
	if want := "canary (deployer-task --version)"; !strings.Contains(out.String(), want) {
		t.Errorf("missing %q in:\n%s", want, out.String())
	}
}
