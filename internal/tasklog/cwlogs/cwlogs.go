package cwlogs

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

// DefaultLimit is the number of lines Read returns when asked for fewer
// than one.
const DefaultLimit = 1000

// maxPage is the most events one GetLogEvents call returns.
const maxPage = 10000

// tokenTTL is how long a remembered forward token is used: GetLogEvents'
// tokens expire after 24 hours.
const tokenTTL = 23 * time.Hour

// Options configure a Source.
type Options struct {
	// LogGroup is the log group the tasks' awslogs driver writes to.
	// Required.
	LogGroup string
	// StreamPrefix is prepended to the task id to name its log stream:
	// "<awslogs-stream-prefix>/<container-name>/", e.g.
	// "deployer/deployer/".
	StreamPrefix string
	// CacheTasks bounds how many tasks' read positions are remembered.
	// Defaults to 1024.
	CacheTasks int
	// Now is the clock the remembered tokens' age is measured with.
	// Defaults to time.Now.
	Now func() time.Time
}

// Source reads task logs from CloudWatch Logs. It is safe for concurrent
// use.
type Source struct {
	client *cloudwatchlogs.Client
	opts   Options

	mu    sync.Mutex
	lru   *list.List // of *checkpoint, most recent first
	index map[string]*list.Element
}

var _ tasklog.Source = (*Source)(nil)

// checkpoint is a forward token that sits at a line boundary: pos events
// and every line up to seq precede it.
type checkpoint struct {
	stream string
	pos    int64
	seq    int64
	token  string
	at     time.Time
}

// New returns a Source reading the log group of o through client.
func New(client *cloudwatchlogs.Client, o Options) (*Source, error) {
	if client == nil {
		return nil, errors.New("cloudwatch task log: no client")
	}
	if o.LogGroup == "" {
		return nil, errors.New("cloudwatch task log: no log group")
	}
	if o.CacheTasks <= 0 {
		o.CacheTasks = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Source{client: client, opts: o, lru: list.New(), index: map[string]*list.Element{}}, nil
}

// StreamName returns the log stream of a task: the prefix and the ECS
// task id. A task ARN is reduced to its id (its last segment).
func (s *Source) StreamName(taskID string) string {
	if strings.HasPrefix(taskID, "arn:") {
		taskID = taskID[strings.LastIndexByte(taskID, '/')+1:]
	}
	return s.opts.StreamPrefix + taskID
}

// Read returns up to limit lines of the task's log with Seq greater than
// afterSeq, in order; tasklog.ErrNotFound when the task's stream does not
// exist or holds no events. A limit below 1 means DefaultLimit.
//
// Events that are task records (written by deployer-task) give the line,
// part or end record they hold, with its own sequence number. A stream of
// an image whose entrypoint is not deployer-task has none: its events are
// numbered by their position in the stream instead.
func (s *Source) Read(ctx context.Context, taskID string, afterSeq int64, limit int) ([]schemas.LogLine, error) {
	if limit < 1 {
		limit = DefaultLimit
	}
	afterSeq = max(afterSeq, 0)
	stream := s.StreamName(taskID)
	lines, err := s.read(ctx, taskID, stream, afterSeq, limit, true)
	if err != nil {
		return nil, fmt.Errorf("reading log stream %s of task %s: %w", stream, taskID, err)
	}
	return lines, nil
}

func (s *Source) read(ctx context.Context, taskID, stream string, afterSeq int64, limit int, useCache bool) ([]schemas.LogLine, error) {
	var (
		pos   int64   // events before token
		seq   int64   // every line up to seq is before token
		token *string // nil: the head
	)
	resumed := false
	if useCache {
		if cp, ok := s.get(stream); ok && cp.seq <= afterSeq {
			pos, seq, token, resumed = cp.pos, cp.seq, aws.String(cp.token), true
		}
	}
	var lines []schemas.LogLine
	for len(lines) < limit {
		// Ask for at least what is still to skip and to return, so that
		// the token after the page sits close after the last line
		// returned.
		want := max(afterSeq-seq, 0) + int64(limit-len(lines))
		out, err := s.client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(s.opts.LogGroup),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
			Limit:         aws.Int32(int32(min(want, maxPage))), //nolint:gosec // at most maxPage
		})
		if err != nil {
			if resumed && awsx.HasCode(err, "InvalidParameterException") {
				// The remembered token expired or was refused: start over
				// from the head.
				s.forget(stream)
				return s.read(ctx, taskID, stream, afterSeq, limit, false)
			}
			return nil, mapErr(err)
		}
		boundary := true // the page's last event ends a line
		for _, ev := range out.Events {
			pos++
			l, ok := eventLine(taskID, pos, ev.Timestamp, aws.ToString(ev.Message))
			if !ok {
				continue
			}
			boundary = !l.More
			if !l.More {
				seq = l.Seq
			}
			if l.Seq <= afterSeq || len(lines) >= limit {
				continue
			}
			lines = append(lines, l)
		}
		next := aws.ToString(out.NextForwardToken)
		end := next == "" || (token != nil && next == *token)
		if next != "" {
			token = aws.String(next)
			if boundary {
				s.put(stream, pos, seq, next)
			}
		}
		if end {
			break
		}
	}
	if pos == 0 {
		return nil, tasklog.ErrNotFound
	}
	return lines, nil
}

// eventLine reads one log event: the line a task record holds, or the
// event as a line numbered by its position. A damaged task record is
// left out (false): numbered by position, it would take the sequence
// number of another line; the reader finds its line missing instead.
func eventLine(taskID string, pos int64, ts *int64, msg string) (schemas.LogLine, bool) {
	msg = strings.TrimSuffix(msg, "\n")
	id := taskID + ":" + strconv.FormatInt(pos, 10)
	if !schemas.IsTaskRecord([]byte(msg)) {
		return schemas.LogLine{Seq: pos, ID: id, Time: time.UnixMilli(aws.ToInt64(ts)).UTC(), Text: msg}, true
	}
	r, err := schemas.DecodeTaskRecord([]byte(msg))
	if err != nil {
		return schemas.LogLine{}, false
	}
	l := r.Line()
	l.ID = id
	return l, true
}

func mapErr(err error) error {
	switch {
	case awsx.HasCode(err, "ResourceNotFoundException"):
		return fmt.Errorf("%w: %w", tasklog.ErrNotFound, err)
	case awsx.Throttled(err):
		return fmt.Errorf("%w: %w", tasklog.ErrThrottled, err)
	case awsx.HasCode(err, "AccessDeniedException", "AccessDenied"):
		return fmt.Errorf("%w: %w", tasklog.ErrDenied, err)
	}
	return err
}

// get returns the stream's remembered checkpoint unless it expired.
func (s *Source) get(stream string) (checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.index[stream]
	if el == nil {
		return checkpoint{}, false
	}
	cp := el.Value.(*checkpoint)
	if s.opts.Now().Sub(cp.at) > tokenTTL {
		s.lru.Remove(el)
		delete(s.index, stream)
		return checkpoint{}, false
	}
	s.lru.MoveToFront(el)
	return *cp, true
}

// put remembers a checkpoint unless one further into the stream is
// already known, and evicts the least recently used beyond CacheTasks.
func (s *Source) put(stream string, pos, seq int64, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if el := s.index[stream]; el != nil {
		cp := el.Value.(*checkpoint)
		if pos >= cp.pos || now.Sub(cp.at) > tokenTTL {
			cp.pos, cp.seq, cp.token, cp.at = pos, seq, token, now
		}
		s.lru.MoveToFront(el)
		return
	}
	s.index[stream] = s.lru.PushFront(&checkpoint{stream: stream, pos: pos, seq: seq, token: token, at: now})
	for s.lru.Len() > s.opts.CacheTasks {
		el := s.lru.Back()
		s.lru.Remove(el)
		delete(s.index, el.Value.(*checkpoint).stream)
	}
}

func (s *Source) forget(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el := s.index[stream]; el != nil {
		s.lru.Remove(el)
		delete(s.index, stream)
	}
}
