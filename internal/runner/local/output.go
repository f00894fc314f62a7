package local

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// TaskCommand is the hidden command of the binary the supervisor runs as
// the task's entrypoint: "<binary> __task SCRIPT ARGS...", the same code
// as deployer-task in a task image (package task).
const TaskCommand = "__task"

// Output handling.
const (
	// FlushLines and FlushInterval bound a batch of lines: it is written
	// to the task log when it holds FlushLines lines or its first line
	// has waited FlushInterval, whichever comes first.
	FlushLines    = 1000
	FlushInterval = 50 * time.Millisecond
)

// readRecords reads the task records deployer-task writes, one per line,
// and calls line with each whole line (the parts of a split line joined)
// and the end record, in order, until EOF (nil) or an error. Records of
// another job or attempt, or out of sequence, are errors: the entrypoint
// is this binary, so they mean a bug, not hostile input.
func readRecords(r io.Reader, jobID string, attempt int, line func(schemas.LogLine)) error {
	br := bufio.NewReaderSize(r, 2*schemas.MaxRecordBytes)
	var (
		cur  strings.Builder
		head schemas.LogLine // the first part of the line being joined
		seq  int64
	)
	for {
		raw, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, io.EOF) && len(raw) == 0:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("a task record after line %d is longer than %d bytes", seq, schemas.MaxRecordBytes)
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		rec, derr := schemas.DecodeTaskRecord(raw)
		switch {
		case derr != nil:
			return fmt.Errorf("the record after line %d: %w", seq, derr)
		case rec.JobID != jobID || rec.Attempt != attempt:
			return fmt.Errorf("a record of job %s attempt %d in the log of job %s attempt %d", rec.JobID, rec.Attempt, jobID, attempt)
		case rec.Seq != seq+1:
			return fmt.Errorf("record %d follows line %d", rec.Seq, seq)
		}
		l := rec.Line()
		if l.Part > 1 {
			cur.WriteString(l.Text)
		} else {
			head = l
			cur.Reset()
			cur.WriteString(l.Text)
		}
		if l.More {
			continue
		}
		head.Text, head.Part, head.More = cur.String(), 0, false
		line(head)
		seq = rec.Seq
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}
