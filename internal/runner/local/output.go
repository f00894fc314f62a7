package local

import (
	"fmt"
	"strings"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// TaskCommand is the hidden command of deployer's binary that runs the
// task entrypoint's code (package task) as a process of its own, as
// deployer-task does in a task image. The supervisor runs that code
// in-process; the command stays for those who run it by hand.
const TaskCommand = "__task"

// Output handling.
const (
	// FlushLines and FlushInterval bound a batch of lines: it is written
	// to the task log when it holds FlushLines lines, when the script has
	// written nothing more for now, or when its first line has waited
	// FlushInterval, whichever comes first. A script writing as fast as
	// it can fills batches to FlushLines: each is one commit, whose
	// fixed cost (the pages every commit writes, the wake-up of every
	// waiting process) outweighs its lines' once they are compressed. A
	// follower reads that many at once too (producer's fillBatch).
	FlushLines    = 4000
	FlushInterval = 50 * time.Millisecond
	// FlushBytes bounds a batch's text too: lines of up to
	// schemas.MaxLineBytes, FlushLines of them, would otherwise make a
	// batch of gigabytes in the supervisor's memory and in one row.
	FlushBytes = 8 << 20
)

// logItem is what the entrypoint's records make for the pump: whole
// lines (the parts of a split line joined) and the end record, in order;
// flush when the script has written nothing more for now; or an error.
type logItem struct {
	lines []schemas.LogLine
	flush bool
	err   error
}

// sinkChunk is how many lines the sink hands the pump at once: lines
// cross the channel in slices, not one send each.
const sinkChunk = 256

// recordSink takes the task records of the entrypoint's code (its
// task.RecordWriter) and gives the pump whole lines, in order. Records of
// another job or attempt, or out of sequence, are errors: the entrypoint
// is this binary's own code, so they mean a bug, not hostile input; the
// records after one are dropped, so the lines stored stay dense.
type recordSink struct {
	jobID   string
	attempt int
	items   chan logItem
	pending []schemas.LogLine // whole lines not handed to the pump yet

	cur  strings.Builder
	head schemas.LogLine // the first part of the line being joined
	seq  int64           // the last whole line's
	err  error
}

func newRecordSink(jobID string, attempt int) *recordSink {
	return &recordSink{jobID: jobID, attempt: attempt, items: make(chan logItem, 4*FlushLines/sinkChunk)}
}

// WriteRecord implements task.RecordWriter.
func (k *recordSink) WriteRecord(rec schemas.TaskRecord) error {
	if k.err != nil {
		return k.err
	}
	switch {
	case rec.JobID != k.jobID || rec.Attempt != k.attempt:
		k.err = fmt.Errorf("a record of job %s attempt %d in the log of job %s attempt %d", rec.JobID, rec.Attempt, k.jobID, k.attempt)
	case rec.Seq != k.seq+1:
		k.err = fmt.Errorf("record %d follows line %d", rec.Seq, k.seq)
	}
	if k.err != nil {
		k.hand(false)
		k.items <- logItem{err: k.err}
		return k.err
	}
	l := rec.Line()
	var line schemas.LogLine
	switch {
	case l.Part <= 1 && !l.More:
		// Whole (as the Framer gives lines here): nothing to join.
		line = l
	case l.Part <= 1:
		k.head = l
		k.cur.Reset()
		k.cur.WriteString(l.Text)
		return nil
	default:
		k.cur.WriteString(l.Text)
		if l.More {
			return nil
		}
		line = k.head
		line.Text = k.cur.String()
	}
	// As the JSON records of deployer-task would carry it.
	line.Text, line.Part, line.More = schemas.ValidText(line.Text), 0, false
	k.seq = rec.Seq
	k.pending = append(k.pending, line)
	if len(k.pending) >= sinkChunk || line.End != nil {
		k.hand(false)
	}
	return nil
}

// hand gives the pending lines to the pump, with a flush when flush.
func (k *recordSink) hand(flush bool) {
	if len(k.pending) == 0 && !flush {
		return
	}
	k.items <- logItem{lines: k.pending, flush: flush}
	k.pending = make([]schemas.LogLine, 0, sinkChunk)
}

// WholeLines tells the entrypoint's Framer to give each line in one
// record: parts are for log events, and the supervisor joins them anyway.
func (k *recordSink) WholeLines() bool { return true }

// Flush implements task.RecordWriter: the pump stores what it holds.
func (k *recordSink) Flush() error {
	if len(k.pending) > 0 {
		k.hand(true)
		return nil
	}
	select {
	case k.items <- logItem{flush: true}:
	default: // the pump is behind: it stores full batches anyway
	}
	return nil
}

// close hands the pump the lines left and ends the records.
func (k *recordSink) close() {
	k.hand(false)
	close(k.items)
}
