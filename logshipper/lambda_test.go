package logshipper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/schemas"
)

const (
	testTask    = "5f1c2d3e4b5a49788796a5b4c3d2e1f0"
	sidecarTask = "0a9b8c7d6e5f40312233445566778899"
	testJob     = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
)

var shipTime = time.Date(2026, 11, 23, 0, 0, 1, 0, time.UTC)

// fakeTasks is an in-memory runner: it knows the tasks it holds, counts
// look-ups, and fails them with err when set.
type fakeTasks struct {
	mu    sync.Mutex
	tasks map[string]runner.Task
	calls int
	err   error
}

func (f *fakeTasks) Inspect(_ context.Context, ids ...string) ([]runner.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []runner.Task
	for _, id := range ids {
		if t, ok := f.tasks[id]; ok {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeTasks) lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// recorder is a stream.Streams that records what is published, and fails
// publishes with err when set.
type recorder struct {
	stream.Streams // unused methods panic
	mu             sync.Mutex
	published      map[string][]schemas.JobEvent
	calls          int
	err            error
}

func (r *recorder) Publish(_ context.Context, address string, evs ...schemas.JobEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return r.err
	}
	if r.published == nil {
		r.published = map[string][]schemas.JobEvent{}
	}
	r.published[address] = append(r.published[address], evs...)
	return nil
}

func (r *recorder) events(address string) []schemas.JobEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]schemas.JobEvent(nil), r.published[address]...)
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, evs := range r.published {
		n += len(evs)
	}
	return n
}

type harness struct {
	l     *logshipper.Lambda
	tasks *fakeTasks
	rec   *recorder
	logs  *bytes.Buffer
	now   time.Time
}

func address(jobID string) string { return "test:" + jobID }

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{
		tasks: &fakeTasks{tasks: map[string]runner.Task{
			testTask:    {ID: testTask, JobID: testJob, Attempt: 2, Status: runner.StatusRunning},
			sidecarTask: {ID: sidecarTask, Status: runner.StatusRunning, Tags: map[string]string{"role": "log-router"}},
		}},
		rec:  &recorder{},
		logs: &bytes.Buffer{},
		now:  shipTime,
	}
	h.l = &logshipper.Lambda{
		Shipper:       &logshipper.Shipper{Streams: h.rec, Now: func() time.Time { return shipTime }},
		Tasks:         h.tasks,
		StreamAddress: address,
		Logger:        slog.New(slog.NewTextHandler(h.logs, nil)),
		Now:           func() time.Time { return h.now },
	}
	return h
}

func (h *harness) handle(t *testing.T, name string) error {
	t.Helper()
	return h.l.Handle(context.Background(), loadEvent(t, name))
}

func eid(n int) string { return fmt.Sprintf("3795286193837621%040d", n) }

func TestHandleShipsECSTaskLines(t *testing.T) {
	h := newHarness(t)
	if err := h.handle(t, "ecs-data-message.json"); err != nil {
		t.Fatal(err)
	}
	evs := h.rec.events(address(testJob))
	if len(evs) != 1 {
		t.Fatalf("published %d events to the job's stream, want 1 (all: %v)", len(evs), h.rec.published)
	}
	ev := evs[0]
	if ev.Type != schemas.EventLog || ev.JobID != testJob || ev.Attempt != 2 || ev.TaskID != testTask || ev.Source != "logshipper" {
		t.Errorf("event %+v, want a log event of job %s attempt 2 task %s", ev, testJob, testTask)
	}
	if want := "log:" + testTask + ":" + eid(1) + "-" + eid(4); ev.ID != want {
		t.Errorf("event id %q, want %q", ev.ID, want)
	}
	base := time.UnixMilli(1763856000000).UTC()
	want := []schemas.LogLine{
		{ID: eid(1), Time: base, Text: "Initializing the backend..."},
		{ID: eid(2), Time: base, Text: ""},
		{ID: eid(3), Time: base.Add(12 * time.Millisecond), Text: `Successfully configured the backend "s3"! Terraform will automatically`},
		{ID: eid(4), Time: base.Add(15 * time.Millisecond), Text: "Plan: 3 to add, 0 to change, 0 to destroy."},
	}
	if len(ev.Lines) != len(want) {
		t.Fatalf("lines %+v, want %+v", ev.Lines, want)
	}
	for i := range want {
		if got := ev.Lines[i]; got.Seq != 0 || got.ID != want[i].ID || !got.Time.Equal(want[i].Time) || got.Text != want[i].Text {
			t.Errorf("line %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestHandleOrdersLinesAndKeepsIDsOnRedelivery(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"out-of-order.json", "duplicate.json", "out-of-order.json"} {
		if err := h.handle(t, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	evs := h.rec.events(address(testJob))
	if len(evs) != 3 {
		t.Fatalf("published %d events, want one per delivery (3)", len(evs))
	}
	var ids []string
	for _, l := range evs[0].Lines {
		ids = append(ids, l.ID)
	}
	want := []string{eid(9), eid(10), eid(11), eid(12), eid(13)}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("line order %v, want by (timestamp, id) %v", ids, want)
	}
	for i, ev := range evs[1:] {
		if ev.ID != evs[0].ID {
			t.Errorf("delivery %d: event id %q, first delivery %q", i+2, ev.ID, evs[0].ID)
		}
		if fmt.Sprint(ev.Lines) != fmt.Sprint(evs[0].Lines) {
			t.Errorf("delivery %d: lines %v, first delivery %v", i+2, ev.Lines, evs[0].Lines)
		}
	}
}

func TestHandleControlMessageDoesNothing(t *testing.T) {
	h := newHarness(t)
	if err := h.handle(t, "control-message.json"); err != nil {
		t.Fatal(err)
	}
	if h.tasks.lookups() != 0 || h.rec.calls != 0 {
		t.Errorf("control message: %d task look-ups, %d publishes; want none", h.tasks.lookups(), h.rec.calls)
	}
}

func TestHandleSkipsTasksThatAreNotOurs(t *testing.T) {
	h := newHarness(t)
	if err := h.handle(t, "not-ours.json"); err != nil {
		t.Fatalf("a task running no job must be skipped, not retried: %v", err)
	}
	if h.rec.calls != 0 {
		t.Errorf("published %d times for a task that runs no job", h.rec.calls)
	}
	if !strings.Contains(h.logs.String(), "task runs no job") || !strings.Contains(h.logs.String(), sidecarTask) {
		t.Errorf("log does not say why the task was skipped:\n%s", h.logs)
	}

	// A task the runner does not know (ECS forgets stopped tasks) is
	// skipped too, and remembered for a while, not looked up per batch.
	delete(h.tasks.tasks, testTask)
	for range 2 {
		if err := h.handle(t, "ecs-data-message.json"); err != nil {
			t.Fatal(err)
		}
	}
	if h.rec.calls != 0 || h.tasks.lookups() != 2 {
		t.Errorf("unknown task: %d publishes, %d look-ups; want 0 and 2 (one per task)", h.rec.calls, h.tasks.lookups())
	}
	if !strings.Contains(h.logs.String(), "does not know the task") {
		t.Errorf("log does not say the task is unknown:\n%s", h.logs)
	}
	// Past the negative TTL it is looked up again, and ships once known.
	h.tasks.tasks[testTask] = runner.Task{ID: testTask, JobID: testJob, Attempt: 1}
	h.now = h.now.Add(logshipper.DefaultNegativeTTL)
	if err := h.handle(t, "ecs-data-message.json"); err != nil {
		t.Fatal(err)
	}
	if h.tasks.lookups() != 3 || len(h.rec.events(address(testJob))) != 1 {
		t.Errorf("after the negative TTL: %d look-ups, %d events; want 3 and 1", h.tasks.lookups(), len(h.rec.events(address(testJob))))
	}
}

func TestHandleSkipsStreamsNotNamedByECS(t *testing.T) {
	h := newHarness(t)
	payload := `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/deployer/tasks","logStream":"i-0abc123","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"x"}]}`
	ev := events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(t, []byte(payload))}}
	if err := h.l.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if h.tasks.lookups() != 0 || h.rec.calls != 0 || !strings.Contains(h.logs.String(), "i-0abc123") {
		t.Errorf("stream i-0abc123: %d look-ups, %d publishes, log:\n%s", h.tasks.lookups(), h.rec.calls, h.logs)
	}
}

func TestHandleRetriesFailedTaskLookups(t *testing.T) {
	h := newHarness(t)
	h.tasks.err = fmt.Errorf("describing tasks: %w", runner.ErrThrottled)
	err := h.handle(t, "ecs-data-message.json")
	if !errors.Is(err, runner.ErrThrottled) || !strings.Contains(err.Error(), testTask) {
		t.Fatalf("Handle = %v, want an error naming the task and wrapping runner.ErrThrottled, so Lambda retries", err)
	}
	if h.rec.calls != 0 {
		t.Errorf("published %d times without knowing the job", h.rec.calls)
	}
	// The failure is not cached: the retry looks the task up and ships.
	h.tasks.err = nil
	if err := h.handle(t, "ecs-data-message.json"); err != nil {
		t.Fatal(err)
	}
	if len(h.rec.events(address(testJob))) != 1 {
		t.Errorf("retry shipped %d events, want 1", len(h.rec.events(address(testJob))))
	}
}

func TestHandleCachesTaskOwners(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"ecs-data-message.json", "out-of-order.json", "duplicate.json", "not-ours.json", "not-ours.json"} {
		if err := h.handle(t, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.tasks.lookups(); n != 2 {
		t.Errorf("%d task look-ups for 5 batches of 2 tasks, want 2", n)
	}
	if n := len(h.rec.events(address(testJob))); n != 3 {
		t.Errorf("%d events shipped, want 3", n)
	}
}

func TestHandleCacheIsBounded(t *testing.T) {
	h := newHarness(t)
	h.l.CacheSize = 2
	other := "7e7e7e7e7e7e47e7a7e7e7e7e7e7e7e7"
	h.tasks.tasks[other] = runner.Task{ID: other, JobID: testJob, Attempt: 3}
	batch := func(task string) events.CloudwatchLogsEvent {
		p := fmt.Sprintf(`{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/deployer/tasks","logStream":"deployer/c/%s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"x"}]}`, task)
		return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(t, []byte(p))}}
	}
	// testTask, sidecarTask, other: testTask is evicted as least recently
	// used, so it costs a second look-up; other is still cached.
	for _, task := range []string{testTask, sidecarTask, other, other, testTask} {
		if err := h.l.Handle(context.Background(), batch(task)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.tasks.lookups(); n != 4 {
		t.Errorf("%d look-ups, want 4 (the evicted task looked up again)", n)
	}
}

func TestHandleSkipsUndecodablePayloads(t *testing.T) {
	for name, step := range map[string]string{
		"bad-base64.json":     "base64",
		"bad-gzip.json":       "gzip",
		"truncated-json.json": "json",
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.handle(t, name); err != nil {
				t.Fatalf("Handle = %v; an undecodable payload never decodes on retry, so it must not fail the invocation", err)
			}
			if h.tasks.lookups() != 0 || h.rec.calls != 0 {
				t.Errorf("%d look-ups, %d publishes for an undecodable payload", h.tasks.lookups(), h.rec.calls)
			}
			if log := h.logs.String(); !strings.Contains(log, "undecodable") || !strings.Contains(log, step+":") {
				t.Errorf("log does not name the failed step %s:\n%s", step, log)
			}
		})
	}
}

func TestHandlePublishFailures(t *testing.T) {
	for _, tc := range []struct {
		err   error
		retry bool
	}{
		{stream.ErrThrottled, true},
		{errors.New("connection reset by peer"), true},
		{stream.ErrNotFound, false},       // nobody follows the job any more
		{stream.ErrInvalidAddress, false}, // a deployment error; retrying cannot help
		{fmt.Errorf("event 0: %w: line 0 has seq 0", schemas.ErrMalformed), false},
		{fmt.Errorf("event 0: %w", schemas.ErrTooLarge), false},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			h := newHarness(t)
			h.rec.err = tc.err
			err := h.handle(t, "ecs-data-message.json")
			if tc.retry != (err != nil) || (err != nil && !errors.Is(err, tc.err)) {
				t.Errorf("Handle = %v; retry wanted: %v", err, tc.retry)
			}
			if h.rec.calls != 1 {
				t.Errorf("%d publishes, want 1", h.rec.calls)
			}
		})
	}
}

func TestTaskIDFromStream(t *testing.T) {
	for stream, want := range map[string]string{
		"deployer/terraform-planner/" + testTask: testTask,
		"a/b/c/d":                                "d",
		"i-0abc123":                              "",
		"deployer/" + testTask:                   "",
		"deployer/terraform-planner/":            "",
		"deployer//" + testTask:                  "",
		"":                                       "",
	} {
		got, ok := logshipper.TaskIDFromStream(stream)
		if got != want || ok != (want != "") {
			t.Errorf("TaskIDFromStream(%q) = %q, %v; want %q", stream, got, ok, want)
		}
	}
}

func TestLinesFromEventsOrder(t *testing.T) {
	lines, skipped, _ := logshipper.LinesFromEvents(testJob, 2, []events.CloudwatchLogsLogEvent{
		{ID: "10", Timestamp: 5, Message: "c\n\n"},
		{ID: "9", Timestamp: 5, Message: "b"},
		{ID: "", Timestamp: 1, Message: "no id"},
		{ID: "11", Timestamp: 4, Message: "a\r\n"},
	})
	var got []string
	for _, l := range lines {
		got = append(got, l.ID+"="+l.Text)
	}
	// Ids compare as numbers; one trailing newline is removed, no more.
	if want := "11=a\r,9=b,10=c\n"; strings.Join(got, ",") != want || skipped != 1 {
		t.Errorf("lines %q (%d skipped), want %q (1 skipped)", strings.Join(got, ","), skipped, want)
	}
}

// TestHandleShipsTaskRecords: a delivery of deployer-task's records ships
// each line with its own sequence number and part, the end record last,
// whatever order the events came in; a record of another job is left out.
func TestHandleShipsTaskRecords(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"task-records.json", "task-records-reordered.json"} {
		if err := h.handle(t, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	evs := h.rec.events(address(testJob))
	if len(evs) != 2 {
		t.Fatalf("published %d events, want one per delivery (2)", len(evs))
	}
	type key struct {
		seq  int64
		part int
		more bool
		text string
		end  bool
	}
	var got [2][]key
	for i, ev := range evs {
		for _, l := range ev.Lines {
			got[i] = append(got[i], key{l.Seq, l.Part, l.More, l.Text, l.End != nil})
		}
	}
	want := []key{{1, 0, false, "Initializing the backend...", false}, {2, 0, false, "", false},
		{3, 1, true, "Plan: 3 to add, ", false}, {3, 2, false, "0 to change, 0 to destroy.", false}, {4, 0, false, "", true}}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("first delivery shipped %v, want %v", got[0], want)
	}
	if want := []key{want[0], want[2], want[3]}; fmt.Sprint(got[1]) != fmt.Sprint(want) {
		t.Errorf("reordered delivery shipped %v, want %v", got[1], want)
	}
	if end := evs[0].Lines[4].End; end == nil || end.Lines != 3 || end.ExitCode == nil || *end.ExitCode != 2 {
		t.Errorf("end record %+v", end)
	}
	if !strings.Contains(h.logs.String(), "not of the task's job") {
		t.Errorf("the forged record was not reported: %s", h.logs.String())
	}
}
