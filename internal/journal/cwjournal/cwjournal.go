package cwjournal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/schemas"
)

// Limits of one PutLogEvents call and one log event.
const (
	maxBatchEvents = 10000
	maxBatchBytes  = 1048576
	eventOverhead  = 26
	maxEventBytes  = 1048576
)

// Options configure a Journal.
type Options struct {
	// LogGroup holds the journal's streams; it must exist. Required.
	LogGroup string
	// StreamPrefix is prepended to the job id to name its stream.
	// Defaults to "jobs/".
	StreamPrefix string
	// Logger, when set, hears about entries Read skips. Defaults to
	// discarding.
	Logger *slog.Logger
	// Now is the clock events are stamped with. Defaults to time.Now.
	Now func() time.Time
}

// Journal keeps job histories in CloudWatch Logs. It is safe for
// concurrent use.
type Journal struct {
	client *cloudwatchlogs.Client
	opts   Options

	mu   sync.Mutex
	last int64 // the last timestamp handed out, in ms
}

var _ journal.Journal = (*Journal)(nil)

// New returns a Journal on the log group of o.
func New(client *cloudwatchlogs.Client, o Options) (*Journal, error) {
	if client == nil {
		return nil, errors.New("cloudwatch journal: no client")
	}
	if o.LogGroup == "" {
		return nil, errors.New("cloudwatch journal: no log group")
	}
	if o.StreamPrefix == "" {
		o.StreamPrefix = "jobs/"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Journal{client: client, opts: o}, nil
}

// StreamName returns the log stream of a job.
func (j *Journal) StreamName(jobID string) string { return j.opts.StreamPrefix + jobID }

// stamp returns the first of n consecutive timestamps (ms), later than
// every one handed out before and not before now.
func (j *Journal) stamp(n int) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	first := max(j.opts.Now().UnixMilli(), j.last+1)
	j.last = first + int64(n) - 1
	return first
}

// Append records events of one job, in order, each stamped with the
// append time. Events whose id was appended before are stored again and
// dropped by Read, so appending them changes nothing; copies within one
// call are not sent.
func (j *Journal) Append(ctx context.Context, jobID string, events ...schemas.JobEvent) error {
	if len(events) == 0 {
		return nil
	}
	stream := j.StreamName(jobID)
	seen := make(map[string]bool, len(events))
	var msgs []string
	for _, ev := range events {
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		data, err := ev.Encode()
		if err != nil {
			return fmt.Errorf("appending event %s to the journal of job %s: %w", ev.ID, jobID, err)
		}
		if len(data)+eventOverhead > maxEventBytes {
			return fmt.Errorf("appending event %s to the journal of job %s: %d bytes, more than a CloudWatch Logs event holds (%d)",
				ev.ID, jobID, len(data), maxEventBytes-eventOverhead)
		}
		msgs = append(msgs, string(data))
	}
	ts := j.stamp(len(msgs))
	var (
		batch []types.InputLogEvent
		size  int
	)
	for i, m := range msgs {
		n := len(m) + eventOverhead
		if len(batch) == maxBatchEvents || size+n > maxBatchBytes {
			if err := j.put(ctx, stream, batch); err != nil {
				return fmt.Errorf("appending %d events to the journal of job %s: %w", len(msgs), jobID, err)
			}
			batch, size = nil, 0
		}
		batch = append(batch, types.InputLogEvent{Message: aws.String(m), Timestamp: aws.Int64(ts + int64(i))})
		size += n
	}
	if err := j.put(ctx, stream, batch); err != nil {
		return fmt.Errorf("appending %d events to the journal of job %s: %w", len(msgs), jobID, err)
	}
	return nil
}

// put sends one batch, creating the stream when it is missing.
func (j *Journal) put(ctx context.Context, stream string, batch []types.InputLogEvent) error {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(j.opts.LogGroup),
		LogStreamName: aws.String(stream),
		LogEvents:     batch,
	}
	out, err := j.client.PutLogEvents(ctx, in)
	if awsx.HasCode(err, "ResourceNotFoundException") {
		_, cerr := j.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName:  aws.String(j.opts.LogGroup),
			LogStreamName: aws.String(stream),
		})
		if cerr != nil && !awsx.HasCode(cerr, "ResourceAlreadyExistsException") {
			return fmt.Errorf("creating log stream %s in %s: %w", stream, j.opts.LogGroup, cerr)
		}
		out, err = j.client.PutLogEvents(ctx, in)
	}
	if err != nil {
		return fmt.Errorf("putting %d log events into %s: %w", len(batch), stream, err)
	}
	if r := out.RejectedLogEventsInfo; r != nil {
		return fmt.Errorf("putting %d log events into %s: %w", len(batch), stream, rejected(r, len(batch)))
	}
	return nil
}

// rejected describes the events CloudWatch refused. The others were
// stored; appending again stores them once more, which Read drops.
func rejected(r *types.RejectedLogEventsInfo, n int) error {
	var errs []error
	if r.TooOldLogEventEndIndex != nil {
		errs = append(errs, fmt.Errorf("events 0..%d too old", *r.TooOldLogEventEndIndex-1))
	}
	if r.ExpiredLogEventEndIndex != nil {
		errs = append(errs, fmt.Errorf("events 0..%d older than the group's retention", *r.ExpiredLogEventEndIndex-1))
	}
	if r.TooNewLogEventStartIndex != nil {
		errs = append(errs, fmt.Errorf("events %d..%d more than 2 hours in the future", *r.TooNewLogEventStartIndex, n-1))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("CloudWatch Logs rejected events (is this host's clock right?): %w", errors.Join(errs...))
}

// Read returns the job's events in the order they were appended, each id
// once (its first copy); journal.ErrNotFound when the job's stream is
// missing or holds none. Entries that do not decode are skipped.
func (j *Journal) Read(ctx context.Context, jobID string) ([]schemas.JobEvent, error) {
	stream := j.StreamName(jobID)
	var (
		events  []schemas.JobEvent
		seen    = map[string]bool{}
		token   *string
		skipped int
		lastErr error
	)
	for {
		out, err := j.client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(j.opts.LogGroup),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
		})
		if err != nil {
			if awsx.HasCode(err, "ResourceNotFoundException") {
				err = fmt.Errorf("%w: %w", journal.ErrNotFound, err)
			}
			return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, err)
		}
		for _, le := range out.Events {
			ev, err := schemas.DecodeJobEvent([]byte(aws.ToString(le.Message)))
			if err != nil {
				skipped++
				lastErr = err
				continue
			}
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			events = append(events, ev)
		}
		next := aws.ToString(out.NextForwardToken)
		if next == "" || (token != nil && next == *token) {
			break
		}
		token = aws.String(next)
	}
	if skipped > 0 {
		j.opts.Logger.Warn("skipped journal entries that do not decode",
			"job_id", jobID, "stream", stream, "skipped", skipped, "err", lastErr)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("reading the journal of job %s: %w", jobID, journal.ErrNotFound)
	}
	return events, nil
}

// describePage is the most streams one DescribeLogStreams call returns.
const describePage = 50

// List returns the keys with streams that opts selects, newest first: it
// pages through DescribeLogStreams of the streams named StreamPrefix +
// opts.Prefix, by name, descending, skipping those at or after
// opts.Before (CloudWatch cannot start a listing at a name, so a listing
// with Before reads the names after it too, 50 a call).
func (j *Journal) List(ctx context.Context, opts journal.ListOptions) ([]string, error) {
	limit := opts.MaxKeys()
	var (
		keys  []string
		token *string
	)
	for {
		out, err := j.client.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName:        aws.String(j.opts.LogGroup),
			LogStreamNamePrefix: aws.String(j.opts.StreamPrefix + opts.Prefix),
			OrderBy:             types.OrderByLogStreamName,
			Descending:          aws.Bool(true),
			Limit:               aws.Int32(describePage),
			NextToken:           token,
		})
		if err != nil {
			return nil, fmt.Errorf("listing the journal's streams in %s: %w", j.opts.LogGroup, err)
		}
		for _, s := range out.LogStreams {
			key, ok := strings.CutPrefix(aws.ToString(s.LogStreamName), j.opts.StreamPrefix)
			if !ok || !strings.HasPrefix(key, opts.Prefix) || (opts.Before != "" && key >= opts.Before) {
				continue
			}
			keys = append(keys, key)
			if len(keys) == limit {
				return keys, nil
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" || (token != nil && next == *token) {
			return keys, nil
		}
		token = aws.String(next)
	}
}
