package logshipper

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// Tasks finds tasks by id; the runner port satisfies it.
type Tasks interface {
	// Inspect returns the tasks with these ids; ids it does not know are
	// left out.
	Inspect(ctx context.Context, ids ...string) ([]runner.Task, error)
}

// Defaults of the Lambda's task cache.
const (
	DefaultCacheSize   = 4096
	DefaultNegativeTTL = time.Minute
)

// Lambda is the AWS side of the logshipper: the handler of a CloudWatch
// Logs subscription filter on the task log group. Its task cache lives as
// long as the Lambda execution environment, so a busy task costs one task
// look-up, not one per batch. It is safe for concurrent use.
type Lambda struct {
	// Shipper publishes the lines. Required.
	Shipper *Shipper
	// Tasks finds the job and attempt of a log stream's task. Required.
	Tasks Tasks
	// StreamAddress returns the address of a job's stream. Required.
	StreamAddress func(jobID string) string
	// Logger receives what is skipped and why. Defaults to slog.Default().
	Logger *slog.Logger
	// CacheSize bounds how many tasks are remembered. Defaults to
	// DefaultCacheSize.
	CacheSize int
	// NegativeTTL is how long a task that is unknown or not a job's is
	// remembered as such. Defaults to DefaultNegativeTTL.
	NegativeTTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache *taskCache
}

// Handle ships the lines of one subscription payload to the job stream of
// the task that wrote them. It returns an error only for what a retry of
// the invocation can fix (a failed task look-up, a failed publish), and
// logs and returns nil for what it never can:
//
//   - an undecodable payload (bad base64, gzip or JSON, over
//     MaxDecodedSize): the same bytes fail on every retry, and failing the
//     invocation would only delay the Lambda's other batches; the lines
//     are not lost, since a follower fills gaps from the task log source;
//   - a CONTROL_MESSAGE, or a stream whose name is not an ECS task's;
//   - a task the runner does not know, or one that runs no job;
//   - a stream address the stream adapter refuses (a deployment error), or
//     events it refuses as malformed or too large.
func (l *Lambda) Handle(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	log := l.logger()
	d, err := DecodeSubscription(ev.AWSLogs.Data)
	if err != nil {
		log.ErrorContext(ctx, "skipping undecodable log subscription payload; a retry cannot decode it",
			"reason", err.Error(), "bytes", len(ev.AWSLogs.Data))
		return nil
	}
	if d.MessageType == MessageControl {
		return nil
	}
	log = log.With("log_group", d.LogGroup, "log_stream", d.LogStream)
	taskID, ok := TaskIDFromStream(d.LogStream)
	if !ok {
		log.WarnContext(ctx, "skipping log events: the stream is not named <prefix>/<container>/<task-id>", "events", len(d.LogEvents))
		return nil
	}
	owner, err := l.owner(ctx, taskID)
	if err != nil {
		return fmt.Errorf("finding the job of task %s (log stream %s): %w", taskID, d.LogStream, err)
	}
	if owner.jobID == "" {
		log.WarnContext(ctx, "skipping log events: "+owner.reason, "task_id", taskID, "events", len(d.LogEvents))
		return nil
	}
	log = log.With("job_id", owner.jobID, "attempt", owner.attempt)
	lines, skipped, why := LinesFromEvents(owner.jobID, owner.attempt, d.LogEvents)
	if skipped > 0 {
		log.WarnContext(ctx, "skipping log events that are not lines of the task's job", "task_id", taskID, "events", skipped, "first", why.Error())
	}
	b := Batch{
		JobID:   owner.jobID,
		Attempt: owner.attempt,
		TaskID:  taskID,
		Stream:  l.StreamAddress(owner.jobID),
		Lines:   lines,
	}
	if err := l.Shipper.Ship(ctx, b); err != nil {
		switch {
		case errors.Is(err, stream.ErrInvalidAddress):
			log.ErrorContext(ctx, "skipping log events: the job's stream address is invalid", "stream", b.Stream, "err", err)
			return nil
		case errors.Is(err, schemas.ErrMalformed), errors.Is(err, schemas.ErrTooLarge):
			log.ErrorContext(ctx, "skipping log events: the stream refuses them", "stream", b.Stream, "err", err)
			return nil
		}
		return err
	}
	return nil
}

// owner finds the job of a task, from the cache or the runner.
func (l *Lambda) owner(ctx context.Context, taskID string) (taskOwner, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	l.mu.Lock()
	if l.cache == nil {
		l.cache = newTaskCache(l.CacheSize)
	}
	o, ok := l.cache.get(taskID, now())
	l.mu.Unlock()
	if ok {
		return o, nil
	}
	tasks, err := l.Tasks.Inspect(ctx, taskID)
	if err != nil && !errors.Is(err, runner.ErrNotFound) {
		return taskOwner{}, err
	}
	ttl := l.NegativeTTL
	if ttl <= 0 {
		ttl = DefaultNegativeTTL
	}
	o = taskOwner{reason: "the runner does not know the task", expires: now().Add(ttl)}
	for _, t := range tasks {
		// The ECS runner may name tasks by ARN, ending in "/<task-id>".
		if t.ID != taskID && !strings.HasSuffix(t.ID, "/"+taskID) {
			continue
		}
		if t.JobID == "" {
			o.reason = "the task runs no job (it carries no job id tag)"
			continue
		}
		attempt := t.Attempt
		if attempt < 1 {
			attempt = 1
		}
		// A task runs one attempt of one job for life: never expires.
		o = taskOwner{jobID: t.JobID, attempt: attempt}
	}
	l.mu.Lock()
	l.cache.put(taskID, o)
	l.mu.Unlock()
	return o, nil
}

func (l *Lambda) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// taskOwner is what a task's log lines belong to: a job and attempt, or
// nothing, for a reason.
type taskOwner struct {
	jobID   string
	attempt int
	reason  string
	// expires is when a negative answer may have changed; zero for never.
	expires time.Time
}

// taskCache is a least-recently-used map of task ids to owners.
type taskCache struct {
	size  int
	order *list.List // front: most recently used; values are *cacheEntry
	byID  map[string]*list.Element
}

type cacheEntry struct {
	id    string
	owner taskOwner
}

func newTaskCache(size int) *taskCache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &taskCache{size: size, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *taskCache) get(id string, now time.Time) (taskOwner, bool) {
	el, ok := c.byID[id]
	if !ok {
		return taskOwner{}, false
	}
	e := el.Value.(*cacheEntry)
	if !e.owner.expires.IsZero() && !now.Before(e.owner.expires) {
		c.order.Remove(el)
		delete(c.byID, id)
		return taskOwner{}, false
	}
	c.order.MoveToFront(el)
	return e.owner, true
}

func (c *taskCache) put(id string, o taskOwner) {
	if el, ok := c.byID[id]; ok {
		el.Value.(*cacheEntry).owner = o
		c.order.MoveToFront(el)
		return
	}
	c.byID[id] = c.order.PushFront(&cacheEntry{id: id, owner: o})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*cacheEntry).id)
	}
}
