package local

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// Output handling.
const (
	// MaxLineBytes is the longest line kept whole; a longer one is split
	// into lines of this many bytes (CloudWatch Logs splits events at
	// 256 KiB likewise).
	MaxLineBytes = 256 * 1024
	// FlushLines and FlushInterval bound a batch of lines: it is written
	// to the task log when it holds FlushLines lines or its first line
	// has waited FlushInterval, whichever comes first.
	FlushLines    = 1000
	FlushInterval = 50 * time.Millisecond
	// drainIdle is how long, after the script's process group is gone,
	// the output pipe may stay silent before it is abandoned: only a
	// process that left the group can still hold it open.
	drainIdle = time.Second
)

// readLines calls emit with each line read from r, in order, until EOF
// (nil) or a read error (returned). A line is given without its "\n" or
// "\r\n"; other '\r' stay as written. A line longer than MaxLineBytes
// is split; a last line without a newline is kept.
func readLines(r io.Reader, emit func(text string)) error {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	split := false // the previous chunk was a split piece of a longer line
	for {
		chunk, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		// A line that ended right at a split leaves only its newline:
		// that is not another line.
		endOfSplit := split && (string(chunk) == "\n" || string(chunk) == "\r\n")
		if len(chunk) > 0 && !endOfSplit {
			if !full && chunk[len(chunk)-1] == '\n' {
				chunk = chunk[:len(chunk)-1]
				if n := len(chunk); n > 0 && chunk[n-1] == '\r' {
					chunk = chunk[:n-1]
				}
			}
			emit(string(chunk))
		}
		split = full
		switch {
		case err == nil || full:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// watchedPipe is the read end of the task's output pipe. It tells how
// long a read has been waiting, so that the supervisor can abandon a
// pipe that an escaped process keeps open after the script is gone.
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

// idle is how long the current read has been waiting for data.
func (p *watchedPipe) idle() time.Duration {
	since := p.waiting.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// abandon makes the blocked read, and every later one, fail.
func (p *watchedPipe) abandon() { _ = p.f.SetReadDeadline(time.Now()) }
