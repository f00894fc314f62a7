package logshipper

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// Limits of one published log event. The byte budget leaves room for the
// event's envelope and JSON escaping under schemas.MaxMessageSize.
const (
	MaxLinesPerEvent = 500
	MaxBytesPerEvent = 96 * 1024
)

// Batch is a run of lines of one task.
type Batch struct {
	JobID   string
	Attempt int
	TaskID  string
	// Stream is the job stream's address.
	Stream string
	Lines  []schemas.LogLine
}

// Shipper publishes batches of task lines to job streams.
type Shipper struct {
	Streams stream.Streams
	// Source names the publisher in events ("logshipper").
	Source string
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Ship publishes the batch's lines as log events, sorted by sequence and
// part, and unsequenced lines (Seq 0) by time and then id, so the same
// lines in any order yield the same events with the same ids. A whole line
// too large for one event is split into parts. A
// stream that no longer exists (the caller stopped following and it was
// deleted or expired) is not an error: there is nobody to tell, and the
// task log keeps the lines.
func (s *Shipper) Ship(ctx context.Context, b Batch) error {
	if len(b.Lines) == 0 {
		return nil
	}
	lines := append([]schemas.LogLine(nil), b.Lines...)
	sort.SliceStable(lines, func(i, j int) bool { return lineLess(lines[i], lines[j]) })
	events := s.events(b, lines)
	if len(events) == 0 {
		return nil
	}
	if err := s.Streams.Publish(ctx, b.Stream, events...); err != nil {
		if errors.Is(err, stream.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("shipping %d lines of task %s to job %s: %w", len(lines), b.TaskID, b.JobID, err)
	}
	return nil
}

// ShipPosition publishes where the batch's task's lines are instead of
// the lines (schemas.JobEvent.LogTo): its task log source holds them up to
// seq to. b.Lines is not read. A stream that no longer exists is not an
// error, as for Ship.
func (s *Shipper) ShipPosition(ctx context.Context, b Batch, to int64) error {
	ev := s.event(b)
	ev.ID, ev.LogTo = fmt.Sprintf("log:%s:to:%d", b.TaskID, to), to
	if err := s.Streams.Publish(ctx, b.Stream, ev); err != nil && !errors.Is(err, stream.ErrNotFound) {
		return fmt.Errorf("shipping the position of task %s's lines (to %d) to job %s: %w", b.TaskID, to, b.JobID, err)
	}
	return nil
}

// event is a log event of the batch's task, without lines or id.
func (s *Shipper) event(b Batch) schemas.JobEvent {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	source := s.Source
	if source == "" {
		source = "logshipper"
	}
	return schemas.JobEvent{
		Schema:  schemas.JobEventV1,
		JobID:   b.JobID,
		Time:    now().UTC(),
		Type:    schemas.EventLog,
		Source:  source,
		Attempt: b.Attempt,
		TaskID:  b.TaskID,
	}
}

func (s *Shipper) events(b Batch, lines []schemas.LogLine) []schemas.JobEvent {
	var events []schemas.JobEvent
	start, size := 0, 0
	cut := func(end int) {
		chunk := lines[start:end]
		ev := s.event(b)
		ev.ID, ev.Lines = eventID(b, chunk), chunk
		events = append(events, ev)
		start, size = end, 0
	}
	lines = splitLarge(lines)
	for i, l := range lines {
		n := encodedSize(l)
		if i > start && (i-start >= MaxLinesPerEvent || size+n > MaxBytesPerEvent) {
			cut(i)
		}
		size += n
	}
	if start < len(lines) {
		cut(len(lines))
	}
	return events
}

// splitLarge splits every whole line too large for one event into parts
// (a line of a source that keeps lines whole, such as the local runner's
// task log); parts stay as they are.
func splitLarge(lines []schemas.LogLine) []schemas.LogLine {
	var out []schemas.LogLine
	for i, l := range lines {
		if l.Part != 0 || encodedSize(l) <= MaxBytesPerEvent {
			if out != nil {
				out = append(out, l)
			}
			continue
		}
		if out == nil {
			out = append(make([]schemas.LogLine, 0, len(lines)+8), lines[:i]...)
		}
		texts := schemas.SplitText(l.Text, MaxBytesPerEvent-encodedSize(schemas.LogLine{ID: l.ID}))
		for j, t := range texts {
			p := l
			p.Text, p.Part, p.More = t, j+1, j < len(texts)-1
			out = append(out, p)
		}
	}
	if out == nil {
		return lines
	}
	return out
}

// encodedSize bounds the JSON size of a line inside an event.
func encodedSize(l schemas.LogLine) int {
	n := len(l.ID) + 160 // field names, seq, part, time, end
	return n + schemas.EscapedSize(l.Text)
}

// eventID names a log event by its task and line range (by sequence
// numbers, or by line ids for unsequenced lines), so a batch shipped twice
// yields the same ids.
func eventID(b Batch, chunk []schemas.LogLine) string {
	first, last := chunk[0], chunk[len(chunk)-1]
	if first.Seq > 0 {
		return fmt.Sprintf("log:%s:%d.%d-%d.%d", b.TaskID, first.Seq, first.Part, last.Seq, last.Part)
	}
	return fmt.Sprintf("log:%s:%s-%s", b.TaskID, first.ID, last.ID)
}
