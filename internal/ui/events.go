package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// A job page's live log is a server-sent event stream of the job's lines,
// read from its task's own log (the source every line's seq is dense in),
// so that a dashboard never consumes a caller's job stream.
//
// Every line event's id is its cursor, "ATTEMPT-SEQ": the attempt whose
// task wrote it and its seq there (a split line's parts share one seq).
// A browser that reconnects sends the last id it saw as Last-Event-ID;
// the stream goes on after that line, so no line is lost or shown twice.

// cursor is a position in a job's output: the last line delivered.
type cursor struct {
	attempt int
	seq     int64
}

func (c cursor) String() string {
	return strconv.Itoa(c.attempt) + "-" + strconv.FormatInt(c.seq, 10)
}

// parseCursor reads an event id; "" is the start of the output.
func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	a, q, ok := strings.Cut(s, "-")
	attempt, err1 := strconv.Atoi(a)
	seq, err2 := strconv.ParseInt(q, 10, 64)
	if !ok || err1 != nil || err2 != nil || attempt < 1 || seq < 0 || len(a) > 9 || len(q) > 18 {
		return cursor{}, fmt.Errorf("event id %q is not ATTEMPT-SEQ", short(s))
	}
	return cursor{attempt: attempt, seq: seq}, nil
}

// lineEvent is the data of a "line" event.
type lineEvent struct {
	Attempt int       `json:"attempt"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

// stateEvent is the data of "state" and "end" events.
type stateEvent struct {
	State    producer.JobState `json:"state"`
	Attempt  int               `json:"attempt,omitempty"`
	ExitCode *int              `json:"exit_code,omitempty"`
	Reason   string            `json:"reason,omitempty"`
}

func (a stateEvent) same(b stateEvent) bool {
	return a.State == b.State && a.Attempt == b.Attempt && a.Reason == b.Reason &&
		(a.ExitCode == nil) == (b.ExitCode == nil) && (a.ExitCode == nil || *a.ExitCode == *b.ExitCode)
}

// emitter writes one event: its type, its id ("" for none) and its data
// as JSON.
type emitter func(event, id string, data any) error

// logPage is how many records a tail reads from a task log at once.
const logPage = 1000

// tail follows one job's output from a cursor.
type tail struct {
	src   Source
	jobID string
	grace time.Duration
	now   func() time.Time

	at     cursor
	ended  map[int]bool // attempts whose task log's end record was read
	state  *stateEvent  // last sent
	quiet  time.Time    // since when nothing new came
	unseen bool         // the job is not recorded (yet)
}

func newTail(src Source, jobID string, at cursor, grace time.Duration, now func() time.Time) *tail {
	return &tail{src: src, jobID: jobID, grace: grace, now: now, at: at, ended: map[int]bool{}, quiet: now()}
}

// attemptTask is an attempt that started a task.
type attemptTask struct {
	attempt int
	task    string
}

// tasks lists the attempts of a history that started a task, in order.
func tasks(hist []schemas.JobEvent) []attemptTask {
	byAttempt := map[int]string{}
	for _, ev := range hist {
		if ev.TaskID != "" {
			byAttempt[max(ev.Attempt, 1)] = ev.TaskID
		}
	}
	out := make([]attemptTask, 0, len(byAttempt))
	for a, t := range byAttempt {
		out = append(out, attemptTask{attempt: a, task: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].attempt < out[j].attempt })
	return out
}

// promised returns how many lines the terminal event of an attempt says
// its task wrote, if one says.
func promised(hist []schemas.JobEvent, attempt int) (int64, bool) {
	for _, ev := range hist {
		if max(ev.Attempt, 1) == attempt && ev.Type.Terminal() && ev.LogEvents != nil {
			return *ev.LogEvents, true
		}
	}
	return 0, false
}

// step delivers what is new: the lines past the cursor, then the job's
// state when it changed. It reports done once the job has ended and every
// attempt's output is complete: its end record read, the lines its
// terminal event promised delivered, or nothing new for the grace period.
func (t *tail) step(ctx context.Context, emit emitter) (done bool, err error) {
	hist, err := t.src.History(ctx, t.jobID)
	if errors.Is(err, ErrNotFound) {
		if !t.unseen {
			t.unseen = true
			return false, emit("state", "", stateEvent{State: producer.StateUnknown,
				Reason: "not recorded yet: waiting for the gatekeeper"})
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sum := producer.Summarize(hist)
	ts := tasks(hist)
	complete := true
	for i, at := range ts {
		if at.attempt < t.at.attempt {
			continue
		}
		if at.attempt > t.at.attempt {
			t.at = cursor{attempt: at.attempt}
		}
		got, err := t.read(ctx, at, emit)
		if err != nil {
			return false, err
		}
		if got {
			t.quiet = t.now()
		}
		if !t.complete(hist, at.attempt, i < len(ts)-1 || sum.State.Ended()) {
			complete = false
			break
		}
	}
	st := stateEvent{State: sum.State, Attempt: sum.Attempt, ExitCode: sum.ExitCode, Reason: sum.Reason}
	if t.state == nil || !t.state.same(st) {
		t.state = &st
		t.quiet = t.now()
		if err := emit("state", "", st); err != nil {
			return false, err
		}
	}
	if sum.State.Ended() && complete {
		return true, emit("end", "", st)
	}
	return false, nil
}

// complete reports whether an attempt's output has all been delivered.
// over says the attempt is over (a later one started, or the job ended).
func (t *tail) complete(hist []schemas.JobEvent, attempt int, over bool) bool {
	if t.ended[attempt] {
		return true
	}
	if n, ok := promised(hist, attempt); ok && t.at.attempt == attempt && t.at.seq >= n {
		return true
	}
	return over && t.now().Sub(t.quiet) >= t.grace
}

// read delivers the lines of one attempt's task past the cursor and
// reports whether there were any.
func (t *tail) read(ctx context.Context, at attemptTask, emit emitter) (bool, error) {
	if t.ended[at.attempt] {
		return false, nil
	}
	got := false
	for {
		lines, err := t.src.TaskLog(ctx, at.task, t.at.seq, logPage)
		if err != nil {
			return got, fmt.Errorf("reading the log of task %s: %w", at.task, err)
		}
		// A split line's parts share its seq and come together, in
		// order; parts cut off by the page's end are read again.
		var parts []schemas.LogLine
		progressed := false
		for _, l := range lines {
			switch {
			case l.End != nil:
				t.ended[at.attempt] = true
				continue
			case l.More:
				parts = append(parts, l)
				continue
			case len(parts) > 0:
				l = joinParts(append(parts, l))
				parts = nil
			}
			if l.Seq <= t.at.seq {
				continue // a source that repeats itself
			}
			next := cursor{attempt: at.attempt, seq: l.Seq}
			if err := emit("line", next.String(), lineEvent{Attempt: at.attempt, Seq: l.Seq, Time: l.Time, Text: l.Text}); err != nil {
				return got, err
			}
			t.at, got, progressed = next, true, true
		}
		if len(lines) < logPage || !progressed {
			return got, nil
		}
	}
}

// joinParts makes one line of the parts of a split line, in order.
func joinParts(parts []schemas.LogLine) schemas.LogLine {
	l := parts[len(parts)-1]
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	l.Text, l.Part, l.More = b.String(), 0, false
	return l
}

// sseWriter writes server-sent events.
type sseWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (s sseWriter) emit(event, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("event: " + event + "\ndata: ")
	sb.Write(b) // JSON: one line
	sb.WriteString("\n\n")
	_, err = io.WriteString(s.w, sb.String())
	return err
}

func (s sseWriter) comment(text string) error {
	_, err := io.WriteString(s.w, ": "+text+"\n\n")
	return err
}

func (s sseWriter) flush() error { return s.rc.Flush() }

// handleEvents serves a job's live log as server-sent events: "line"
// events (id ATTEMPT-SEQ), "state" events when the job moves, and one
// "end" event once it ended and its output is complete; then the stream
// closes. A request with Last-Event-ID resumes after that line.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		http.Error(w, fmt.Sprintf("%q is not a job id", short(id)), http.StatusNotFound)
		return
	}
	at, err := parseCursor(r.Header.Get("Last-Event-ID"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	out := sseWriter{w: w, rc: http.NewResponseController(w)}
	// A browser that loses the stream retries after 1s.
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return
	}
	ctx := r.Context()
	t := newTail(s.src, id, at, s.opts.logGrace(), s.now)
	poll := time.NewTicker(s.opts.logPoll())
	defer poll.Stop()
	beat := time.NewTicker(s.opts.heartbeat())
	defer beat.Stop()
	for {
		done, err := t.step(ctx, out.emit)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Shown, and tried again: a backend that failed once may not
			// fail the next time.
			s.log.Warn("dashboard live log", "job", id, "err", err)
			if out.emit("problem", "", map[string]string{"message": err.Error()}) != nil {
				return
			}
		}
		if out.flush() != nil || done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-beat.C:
			if out.comment("keep-alive") != nil {
				return
			}
		}
	}
}

// handleLogText serves a job's output so far as plain text, every
// attempt's after a header line: the live log without JavaScript.
func (s *Server) handleLogText(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !schemas.ValidJobID(id) {
		http.Error(w, fmt.Sprintf("%q is not a job id", short(id)), http.StatusNotFound)
		return
	}
	hist, err := s.src.History(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), status(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ts := tasks(hist)
	var buf strings.Builder
	t := newTail(s.src, id, cursor{}, 0, s.now)
	for _, at := range ts {
		if len(ts) > 1 {
			fmt.Fprintf(&buf, "== attempt %d (task %s) ==\n", at.attempt, at.task)
		}
		t.at = cursor{attempt: at.attempt}
		if _, err := t.read(r.Context(), at, func(_, _ string, data any) error {
			buf.WriteString(data.(lineEvent).Text)
			buf.WriteByte('\n')
			return nil
		}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	_, _ = io.WriteString(w, buf.String())
}
