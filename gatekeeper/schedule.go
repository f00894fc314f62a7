package gatekeeper

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

// ReasonUnknownSchedule is the reason code of a schedule request naming no schedule of the
// configuration.
const ReasonUnknownSchedule = "unknown_schedule"

// scheduledStreamTTL is how long the stream of a scheduled job is kept:
// nobody follows it live; "deployer logs" reads the journal.
const scheduledStreamTTL = 3 * time.Hour

// handleSchedule turns a schedule request (EventBridge Scheduler on AWS)
// into a job request of the configured schedule and handles it as any
// other, as sent by the message's verified sender. The job id is derived
// from the message id, so a redelivered message is the same job; the
// gatekeeper creates the job's stream.
func (g *Gatekeeper) handleSchedule(ctx context.Context, msg queue.Message) error {
	if g.StreamAddress == nil {
		return errors.New("handling schedule request: the gatekeeper has no StreamAddress")
	}
	sr, err := schemas.DecodeScheduleRequest(msg.Body)
	if err != nil {
		return g.undecodable(ctx, msg, err)
	}
	cp, ok := g.Policy.(interface{ Config() schemas.Config })
	if !ok {
		return g.deadLetterRaw(ctx, msg, "", ReasonUnknownSchedule, errors.New("the gatekeeper's policy lists no schedules"))
	}
	sc, ok := cp.Config().Schedules[sr.Schedule]
	if !ok {
		return g.deadLetterRaw(ctx, msg, "", ReasonUnknownSchedule, fmt.Errorf("schedule %q is not in the configuration", sr.Schedule))
	}
	sent := msg.SentAt
	if sent.IsZero() {
		sent = g.now()
	}
	id := ScheduledJobID(msg.ID, sent)
	addr, err := g.Streams.Create(ctx, id, scheduledStreamTTL)
	if err != nil {
		return fmt.Errorf("creating stream of scheduled job %s: %w", id, err)
	}
	req := schemas.JobRequest{
		JobID: id, Container: sc.Container, Script: sc.Script, Args: schemas.ArgList(sc.Args...),
		Stream: addr, Attempt: 1, SubmittedAt: sent.UTC(),
		Caller: schemas.CallerMetadata{CIProvider: "schedule", Schedule: sr.Schedule, ScheduledAt: sent.UTC()},
	}
	if err := req.Validate(); err != nil {
		return g.deadLetterRaw(ctx, msg, id, ReasonMalformed, err)
	}
	return g.handleJob(ctx, msg, req)
}

// ScheduledJobID is the job id of a schedule request's message: a ULID of
// the time it was sent whose random part is a hash of the message id.
func ScheduledJobID(messageID string, sent time.Time) string {
	sum := sha256.Sum256([]byte("schedule_request/" + messageID))
	return ulid.MustNew(ulid.Timestamp(sent), bytes.NewReader(sum[:])).String()
}
