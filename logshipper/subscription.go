package logshipper

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/schemas"
)

// MaxDecodedSize caps how many bytes a subscription payload may decompress
// to. CloudWatch Logs sends at most 1 MB of events per batch; the cap is
// far above that so no real batch is refused, and far below what a gzip
// bomb would expand to.
const MaxDecodedSize = 8 << 20

// Message types of a CloudWatch Logs subscription payload.
const (
	// MessageData carries log events.
	MessageData = "DATA_MESSAGE"
	// MessageControl is CloudWatch checking that the destination is
	// reachable; it carries no task output.
	MessageControl = "CONTROL_MESSAGE"
)

// ErrMalformedPayload means a subscription payload cannot be decoded: bad
// base64, bad gzip, bad JSON, too large, or an unknown message type. A
// payload that failed once fails on every retry.
var ErrMalformedPayload = errors.New("malformed log subscription payload")

// DecodeSubscription decodes the awslogs.data field of a CloudWatch Logs
// subscription event: base64 of gzip of JSON. It reads at most
// MaxDecodedSize decompressed bytes, and every error wraps
// ErrMalformedPayload and names the step that failed.
func DecodeSubscription(data string) (events.CloudwatchLogsData, error) {
	var d events.CloudwatchLogsData
	// Base64 never expands, so the compressed bytes are bounded by the
	// invocation payload Lambda already holds in memory.
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return d, fmt.Errorf("%w: base64: %w", ErrMalformedPayload, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrMalformedPayload, err)
	}
	defer func() { _ = zr.Close() }()
	// Two passes: measure, then decompress into a buffer of exactly that
	// size. Decompressing twice costs less than the JSON decode, and no
	// input makes this allocate more than it decodes, or past the cap.
	n, err := io.Copy(io.Discard, io.LimitReader(zr, MaxDecodedSize+1))
	if err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrMalformedPayload, err)
	}
	if n > MaxDecodedSize {
		return d, fmt.Errorf("%w: decompresses to more than %d bytes (8 MiB), the limit for one batch", ErrMalformedPayload, MaxDecodedSize)
	}
	if err := zr.Reset(bytes.NewReader(raw)); err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrMalformedPayload, err)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(zr, js); err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrMalformedPayload, err)
	}
	if err := json.Unmarshal(js, &d); err != nil {
		return d, fmt.Errorf("%w: json: %w", ErrMalformedPayload, err)
	}
	switch d.MessageType {
	case MessageData, MessageControl:
	default:
		return d, fmt.Errorf("%w: unknown messageType %q", ErrMalformedPayload, d.MessageType)
	}
	return d, nil
}

// TaskIDFromStream returns the ECS task id of a log stream named by the
// awslogs driver, "<prefix>/<container-name>/<ecs-task-id>": the last path
// segment. It reports false for names of any other shape.
func TaskIDFromStream(logStream string) (string, bool) {
	parts := strings.Split(logStream, "/")
	if len(parts) < 3 {
		return "", false
	}
	for _, p := range parts {
		if p == "" {
			return "", false
		}
	}
	return parts[len(parts)-1], true
}

// LinesFromEvents converts the CloudWatch log events of one task into
// lines. An event that is a task record of jobID's attempt (written by
// deployer-task) becomes the line it records, with its sequence number and
// part, and the event's id; an event that is not a record (an image whose
// entrypoint is not deployer-task) becomes an unsequenced line (Seq 0)
// identified by the event's id, without one trailing newline. Records of
// another job or attempt, records that do not decode and events without
// an id are left out and counted in skipped, with the first reason. Lines
// come ordered by sequence and part, unsequenced ones by time, then id.
func LinesFromEvents(jobID string, attempt int, evs []events.CloudwatchLogsLogEvent) (lines []schemas.LogLine, skipped int, why error) {
	lines = make([]schemas.LogLine, 0, len(evs))
	skip := func(err error) {
		skipped++
		if why == nil {
			why = err
		}
	}
	for _, e := range evs {
		if e.ID == "" {
			skip(errors.New("a log event has no id"))
			continue
		}
		if !schemas.IsTaskRecord([]byte(e.Message)) {
			lines = append(lines, schemas.LogLine{
				ID:   e.ID,
				Time: time.UnixMilli(e.Timestamp).UTC(),
				Text: strings.TrimSuffix(e.Message, "\n"),
			})
			continue
		}
		r, err := schemas.DecodeTaskRecord([]byte(strings.TrimSuffix(e.Message, "\n")))
		switch {
		case err != nil:
			skip(fmt.Errorf("log event %s: %w", e.ID, err))
			continue
		case r.JobID != jobID || r.Attempt != attempt:
			skip(fmt.Errorf("log event %s is a record of job %s attempt %d, not of the task's job %s attempt %d", e.ID, r.JobID, r.Attempt, jobID, attempt))
			continue
		}
		l := r.Line()
		l.ID = e.ID
		lines = append(lines, l)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lineLess(lines[i], lines[j]) })
	return lines, skipped, why
}

// lineLess orders lines by sequence number and part; unsequenced lines
// (Seq 0) among themselves by time, then by id.
func lineLess(a, b schemas.LogLine) bool {
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	if a.Seq > 0 {
		return a.Part < b.Part
	}
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return compareID(a.ID, b.ID) < 0
}

// compareID compares event ids, numerically when both are decimal (as
// CloudWatch's 56-digit ids are), so "9" sorts before "10".
func compareID(a, b string) int {
	if digits(a) && digits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
