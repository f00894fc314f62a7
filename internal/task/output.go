package task

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// drainIdle is how long, after the script's process group is gone, its
// output pipe may stay silent before it is abandoned: only a process that
// left the group can still hold it open.
const drainIdle = time.Second

// Framer writes a task's log: each line of output as one or more
// schemas.TaskRecord lines, then the end record. It is safe for concurrent
// use. Write errors are remembered (Err) and later writes dropped: the
// script keeps running whatever happens to the log.
type Framer struct {
	mu      sync.Mutex
	rw      RecordWriter
	jobID   string
	attempt int
	now     func() time.Time
	seq     int64
	err     error
	whole   bool // no parts: see NewRecordFramer
}

// RecordWriter takes a task's log records, in order. deployer-task's is
// its stdout, one JSON record per line (what the awslogs driver carries);
// the local runner's supervisor, which runs the same code in-process, takes
// them as they are.
type RecordWriter interface {
	// WriteRecord takes the next record.
	WriteRecord(schemas.TaskRecord) error
	// Flush says that the script has written nothing more for now: what
	// is buffered should go on.
	Flush() error
}

// NewFramer returns a Framer writing records of jobID's attempt to w, one
// JSON record per line.
func NewFramer(w io.Writer, jobID string, attempt int) *Framer {
	return NewRecordFramer(&jsonRecords{w: bufio.NewWriterSize(w, 64*1024)}, jobID, attempt)
}

// NewRecordFramer returns a Framer giving records of jobID's attempt to rw.
// A RecordWriter with a WholeLines method that returns true gets each line
// in one record, however long: parts are for log events, which it is not.
func NewRecordFramer(rw RecordWriter, jobID string, attempt int) *Framer {
	w, ok := rw.(interface{ WholeLines() bool })
	return &Framer{rw: rw, jobID: jobID, attempt: attempt, now: time.Now, whole: ok && w.WholeLines()}
}

// jsonRecords writes records as lines of JSON.
type jsonRecords struct {
	w   *bufio.Writer
	buf bytes.Buffer // one record, reused
}

func (j *jsonRecords) WriteRecord(r schemas.TaskRecord) error {
	j.buf.Reset()
	if err := r.EncodeTo(&j.buf); err != nil {
		return err
	}
	_, err := j.w.Write(j.buf.Bytes())
	return err
}

func (j *jsonRecords) Flush() error { return j.w.Flush() }

// Line writes one line of output (without its newline), split into parts
// when its record would be too large for one log event.
func (f *Framer) Line(text string) { f.lineAt(text, f.now().UTC()) }

// lineAt is Line for a line read at at (UTC).
func (f *Framer) lineAt(text string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	r := schemas.TaskRecord{JobID: f.jobID, Attempt: f.attempt, Seq: f.seq, Time: at}
	if f.whole {
		r.Text = text
		f.write(r)
		return
	}
	parts := schemas.SplitText(text, schemas.MaxPartBytes)
	for i, p := range parts {
		r.Text = p
		if len(parts) > 1 {
			r.Part, r.More = i+1, i < len(parts)-1
		}
		f.write(r)
	}
}

// End writes the end record and flushes: code is the script's exit code,
// nil when it never started; reason says why it did not start or was
// stopped.
func (f *Framer) End(code *int, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write(schemas.TaskRecord{
		JobID: f.jobID, Attempt: f.attempt, Seq: f.seq + 1, Time: f.now().UTC(),
		End: &schemas.LogEnd{Lines: f.seq, ExitCode: code, Reason: reason},
	})
	f.flushLocked()
	return f.err
}

// Lines is how many lines were written so far.
func (f *Framer) Lines() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq
}

// Flush writes out buffered records.
func (f *Framer) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushLocked()
}

// Err is the first write error, if any.
func (f *Framer) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *Framer) write(r schemas.TaskRecord) {
	if f.err == nil {
		f.err = f.rw.WriteRecord(r)
	}
}

func (f *Framer) flushLocked() {
	if f.err == nil {
		f.err = f.rw.Flush()
	}
}

// readLines calls line with each line read from r, in order, and the
// time (UTC) of the read that completed it, until EOF (nil) or a read
// error (returned), and flush whenever r has nothing more buffered. A
// line is given without its "\n" or "\r\n"; other '\r' stay as written. A
// line longer than schemas.MaxLineBytes continues as the next line; a last
// line without a newline is kept.
//
// The lines of one read share its time: reading the clock once per read
// rather than once per line matters at hundreds of thousands of lines a
// second, and they did arrive together.
func readLines(r io.Reader, line func(text string, at time.Time), flush func()) error {
	cr := &clockReader{r: r}
	br := bufio.NewReaderSize(cr, 64*1024)
	var strs arena
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		for len(buf)+len(chunk) > schemas.MaxLineBytes {
			n := schemas.MaxLineBytes - len(buf)
			line(strs.string(append(buf, chunk[:n]...)), cr.at)
			buf, chunk = buf[:0], chunk[n:]
			// A line that ended right at the cut leaves only its
			// newline: that is not another line.
			if !full && (string(chunk) == "\n" || string(chunk) == "\r\n") {
				chunk = nil
			}
		}
		switch {
		case full:
			buf = append(buf, chunk...)
			continue
		case len(chunk) > 0 && chunk[len(chunk)-1] == '\n':
			chunk = chunk[:len(chunk)-1]
			if len(buf) == 0 {
				if n := len(chunk); n > 0 && chunk[n-1] == '\r' {
					chunk = chunk[:n-1]
				}
				line(strs.string(chunk), cr.at)
			} else {
				buf = append(buf, chunk...)
				if n := len(buf); n > 0 && buf[n-1] == '\r' {
					buf = buf[:n-1]
				}
				line(strs.string(buf), cr.at)
				buf = buf[:0]
			}
		case len(chunk) > 0 || len(buf) > 0:
			// The last line, without a newline.
			line(strs.string(append(buf, chunk...)), cr.at)
			buf = buf[:0]
		}
		if br.Buffered() == 0 {
			flush()
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// arena makes strings of byte slices, copying them into blocks shared by
// many strings: one allocation per arenaBlock bytes of lines instead of
// one per line. Each block is a strings.Builder, whose strings stay as
// they were while it grows; a full one is left to the strings that hold
// it, and a new one begun.
type arena struct{ block strings.Builder }

const arenaBlock = 64 << 10

func (a *arena) string(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > arenaBlock/8:
		return string(b) // a long line: its own allocation
	case a.block.Cap()-a.block.Len() < len(b):
		a.block = strings.Builder{}
		a.block.Grow(arenaBlock)
	}
	at := a.block.Len()
	_, _ = a.block.Write(b)
	return a.block.String()[at:]
}

// clockReader notes the time of each read that returns data.
type clockReader struct {
	r  io.Reader
	at time.Time
}

func (c *clockReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.at = time.Now().UTC()
	}
	return n, err
}

// watchedPipe is the read end of the script's output pipe. It tells how
// long a read has been waiting, so that a pipe an escaped process keeps
// open after the script is gone can be abandoned.
type watchedPipe struct {
	f       *os.File
	waiting atomic.Int64 // unix nanoseconds since a Read has been blocked; 0 when none is
}

func (p *watchedPipe) Read(b []byte) (int, error) {
	p.waiting.Store(time.Now().UnixNano())
	n, err := p.f.Read(b)
	p.waiting.Store(0)
	return n, err
}

// silence is how long the pipe has given the reader nothing, counted
// from from at the earliest: 0 while no read waits, or while data waits in
// the pipe for a reader that has not run yet. Counting from the script's
// exit matters: a read that waited through a long pause of the script is
// not silence once the script wrote its last lines and exited, whether or
// not the reader got to them yet.
func (p *watchedPipe) silence(from time.Time) time.Duration {
	since := p.waiting.Load()
	if since == 0 || p.buffered() {
		return 0
	}
	start := time.Unix(0, since)
	if start.Before(from) {
		start = from
	}
	return time.Since(start)
}

// abandon makes the blocked read, and every later one, fail.
func (p *watchedPipe) abandon() { _ = p.f.SetReadDeadline(time.Now()) }
