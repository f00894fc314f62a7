package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// TaskRecordV1 names the records deployer-task writes to a task's log.
const TaskRecordV1 = "task_record/v1"

// Limits of task records.
const (
	// MaxRecordBytes is the largest encoded task record, without its
	// newline. The ECS awslogs driver splits a line longer than 16 KiB
	// into several CloudWatch events; a record below that arrives as one.
	MaxRecordBytes = 16*1024 - 1
	// MaxPartBytes bounds the JSON-escaped text of one record, leaving
	// room for the record's other fields within MaxRecordBytes.
	MaxPartBytes = MaxRecordBytes - 512
	// MaxLineBytes is the longest line of output kept as one line; a
	// longer one continues as the next line.
	MaxLineBytes = 4 << 20
)

// LogEnd closes a task's log: it says how the script ended and how many
// lines it wrote. deployer-task writes it after the last line, with the
// sequence number after the last line's, so a reader knows from it that
// it holds the whole output.
type LogEnd struct {
	// Lines is how many lines the task's log holds before this record.
	Lines int64 `json:"lines"`
	// ExitCode is the script's exit code (128+n when signal n killed it);
	// nil when the script never started.
	ExitCode *int `json:"exit_code,omitempty"`
	// Reason says why the script never started, or why it was stopped.
	Reason string `json:"reason,omitempty"`
}

// TaskRecord is one line of a task's own log as deployer-task writes it:
// a line of the script's output (or one part of a line too long for one
// record), or the log's end. The sequence number is a line's one identity
// on every path: shippers carry it, followers order, de-duplicate and fill
// gaps by it.
type TaskRecord struct {
	Schema  string `json:"schema"`
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	// Seq is the line's 1-based position in the task's output; the end
	// record has the sequence number after the last line's.
	Seq int64 `json:"seq"`
	// Part numbers the parts of a line split over several records, from
	// 1; 0 for a line in one record. More is set on every part but the
	// last.
	Part int       `json:"part,omitempty"`
	More bool      `json:"more,omitempty"`
	Time time.Time `json:"time"`
	Text string    `json:"text"`
	// End is set on the end record only.
	End *LogEnd `json:"end,omitempty"`
}

// Line returns the record as a log line.
func (r TaskRecord) Line() LogLine {
	return LogLine{Seq: r.Seq, Part: r.Part, More: r.More, Time: r.Time, Text: r.Text, End: r.End}
}

// Validate checks the record's own shape.
func (r *TaskRecord) Validate() error {
	switch {
	case !ValidJobID(r.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, r.JobID)
	case r.Attempt < 1:
		return fmt.Errorf("%w: attempt must be at least 1", ErrMalformed)
	}
	l := r.Line()
	return l.validate()
}

// Encode sets the schema and encodes the record as one line of JSON
// without a newline. HTML characters are not escaped, so text costs what
// MaxPartBytes budgets for it.
func (r TaskRecord) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := r.EncodeTo(&buf); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// EncodeTo sets the schema and appends the record to buf as one line of
// JSON, with its newline.
func (r TaskRecord) EncodeTo(buf *bytes.Buffer) error {
	r.Schema = TaskRecordV1
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// IsTaskRecord reports whether an event of a task's log looks like a task
// record (and should decode as one), without decoding it. Output of an
// image whose entrypoint is not deployer-task does not.
func IsTaskRecord(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t"), []byte(`{"schema":"task_record/`))
}

// DecodeTaskRecord decodes and validates a task record. It parses the
// record once (a task writes one per line of output); anything but a
// record of this major version is refused as decode refuses it.
func DecodeTaskRecord(data []byte) (TaskRecord, error) {
	var r TaskRecord
	if len(data) > MaxMessageSize || json.Unmarshal(data, &r) != nil || r.Schema != TaskRecordV1 {
		r = TaskRecord{}
		if err := decode(data, TaskRecordV1, &r); err != nil {
			return TaskRecord{}, err
		}
	}
	return r, r.Validate()
}

// ValidText returns s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json does when it encodes s: text that
// reaches a reader without passing through JSON reads the same as text
// that did.
func ValidText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// SplitText cuts a line's text into parts whose JSON-escaped size is at
// most maxEscaped bytes each, never inside a UTF-8 sequence. A text that
// fits is returned as one part. maxEscaped must be at least 6.
func SplitText(text string, maxEscaped int) []string {
	if EscapedSize(text) <= maxEscaped {
		return []string{text}
	}
	var parts []string
	start, size := 0, 0
	for i := 0; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		n := escapedRuneSize(r, w)
		if size+n > maxEscaped && i > start {
			parts = append(parts, text[start:i])
			start, size = i, 0
		}
		size += n
		i += w
	}
	return append(parts, text[start:])
}

// EscapedSize is an upper bound of the JSON-encoded size of text, without
// its quotes, as TaskRecord.Encode and JobEvent.Encode write it: control
// characters escape to up to six bytes, and so do bytes that are not valid
// UTF-8 (they become U+FFFD, "\ufffd").
func EscapedSize(text string) int {
	n := 0
	for i := 0; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		n += escapedRuneSize(r, w)
		i += w
	}
	return n
}

func escapedRuneSize(r rune, w int) int {
	switch {
	case r == utf8.RuneError && w == 1:
		return 6
	case r < 0x20, r == '<', r == '>', r == '&', r == 0x2028, r == 0x2029:
		return 6
	case r == '"', r == '\\':
		return 2
	}
	return w
}
