package topology

import (
	"context"
	"errors"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
)

// Queue names. Adapters may add a prefix (the AWS backend's
// "deployer-"); these are the names before it.
const (
	// RequestQueue takes job and cancel requests, from callers to the
	// gatekeeper.
	RequestQueue = "requests"
	// RequestDLQ takes the requests the gatekeeper could not handle.
	RequestDLQ = "requests-dlq"
	// LaneQueuePrefix starts the name of every lane's run queue (see
	// LaneQueue): from the gatekeeper to the workers.
	LaneQueuePrefix = "runs-lane-"
	// RunDLQ takes the run orders of failed jobs.
	RunDLQ = "runs-dlq"
	// CancelLane is the lane cancel orders go to (CancelQueue). It is not
	// a lane any configuration can define (lane names start with a letter
	// or digit), so workers always find it among the lane queues. It is a
	// queue of its own rather than the job's lane queue because workers
	// receive from a lane queue only while they have room for a job and
	// hold a lease of the lane: a cancel order for a job of a full lane
	// would wait there until that job ended by itself. For the same
	// reason the gatekeeper sends a copy of each canary's run order there
	// (beside the one in its lane's queue): a canary takes no lane slot.
	CancelLane = "_cancel"
	// CancelQueue is the run queue of CancelLane.
	CancelQueue = LaneQueuePrefix + CancelLane
	// StreamQueuePrefix starts the name of every job stream's queue on
	// SQS ("job-<JOB_ID>"), which callers may create and delete.
	StreamQueuePrefix = "job-"
)

// LaneQueue is the name of the run queue of a lane.
func LaneQueue(lane string) string { return LaneQueuePrefix + lane }

// Redrive limits and settings of the queues.
const (
	// RequestMaxReceives is how often a request is received before the
	// request queue moves it to RequestDLQ.
	RequestMaxReceives = 5
	// RunMaxReceives is how often a run or cancel order is received
	// before its lane queue moves it to RunDLQ.
	RunMaxReceives = 10
	// RunVisibility is the run queues' visibility timeout (workers
	// receive with their own; this is the queue's default).
	RunVisibility = time.Minute
	// DeadLetterRetention is how long the dead-letter queues keep a
	// message: the longest SQS allows (Terraform's default).
	DeadLetterRetention = queue.MaxRetention
)

// RequestQueueConfig is the configuration of RequestQueue.
func RequestQueueConfig() queue.Config {
	return queue.Config{DeadLetter: &queue.Redrive{Queue: RequestDLQ, MaxReceiveCount: RequestMaxReceives}}
}

// RunQueueConfig is the configuration of every lane's run queue,
// CancelQueue included.
func RunQueueConfig() queue.Config {
	return queue.Config{
		VisibilityTimeout: RunVisibility,
		DeadLetter:        &queue.Redrive{Queue: RunDLQ, MaxReceiveCount: RunMaxReceives},
	}
}

// RunQueue opens the run queue of lane on b, creating it with
// RunQueueConfig when there is none (see Ensure): the gatekeeper forwards
// to lanes as configurations name them. (The embedded pipeline applies
// RunQueueConfig to its configuration's lanes when it starts; on AWS, the
// deployment's Terraform or provisioning does.)
func RunQueue(ctx context.Context, b queue.Broker, lane string) (queue.Queue, error) {
	return Ensure(ctx, b, LaneQueue(lane), RunQueueConfig())
}

// Ensure opens the queue name on b, creating it with cfg when there is
// none. A queue that exists is opened as it is: a read, where Create is a
// write that applies cfg again. Whoever serves the queues applies their
// configuration (Create) when it starts.
func Ensure(ctx context.Context, b queue.Broker, name string, cfg queue.Config) (queue.Queue, error) {
	if q, err := b.Open(ctx, name); err == nil || !errors.Is(err, queue.ErrNotFound) {
		return q, err
	}
	return b.Create(ctx, name, cfg)
}

// DeadLetterConfig is the configuration of RequestDLQ and RunDLQ.
func DeadLetterConfig() queue.Config { return queue.Config{Retention: DeadLetterRetention} }
