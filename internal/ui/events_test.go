package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// sse is one server-sent event as a browser sees it.
type sse struct {
	id, event, data string
}

// readEvents reads the live log of a job, resuming after lastID, until
// enough says it has enough (or the stream ends), and returns what it
// read; the connection is closed when it returns, as a browser's that
// goes away.
func readEvents(t *testing.T, d *dashboard, job, lastID string, enough func([]sse) bool) []sse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.srv.URL+"/jobs/"+job+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sse
	var cur sse
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if cur.event != "" {
				out = append(out, cur)
				if enough(out) {
					return out
				}
			}
			cur = sse{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			cur.id = value
		case "event":
			cur.event = value
		case "data":
			cur.data += value
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("the live log did not say enough within its deadline; got %v", out)
	}
	return out
}

// lines returns the texts of the line events, and the last line's id.
func lines(t *testing.T, evs []sse) (texts []string, last string) {
	t.Helper()
	for _, ev := range evs {
		if ev.event != "line" {
			continue
		}
		var l lineEvent
		if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
			t.Fatalf("line event %q: %v", ev.data, err)
		}
		if want := (cursor{attempt: l.Attempt, seq: l.Seq}).String(); ev.id != want {
			t.Errorf("line event id %q, want %q", ev.id, want)
		}
		texts = append(texts, fmt.Sprintf("%d:%s", l.Attempt, l.Text))
		last = ev.id
	}
	return texts, last
}

func countLines(n int) func([]sse) bool {
	return func(evs []sse) bool {
		c := 0
		for _, ev := range evs {
			if ev.event == "line" {
				c++
			}
		}
		return c >= n
	}
}

func ended(evs []sse) bool { return len(evs) > 0 && evs[len(evs)-1].event == "end" }

func TestLiveLogResumesAfterLastEventIDWithoutGapsOrDuplicates(t *testing.T) {
	f := newFake()
	d := serve(t, f, Options{LogPoll: 5 * time.Millisecond, LogGrace: time.Hour})
	const task2 = "lt-01J9Z8Y7X6W5V4T3S2R1Q0P9NM-2"
	f.addEvents(jobID,
		schemas.JobEvent{ID: "a", Time: t0, Type: schemas.EventAccepted, Container: "c", Script: "s"},
		schemas.JobEvent{ID: "s", Time: t0, Type: schemas.EventStarted, TaskID: task})
	f.addLines(task, "one", "two", "three")

	// The browser reads two lines and loses the connection.
	first := readEvents(t, d, jobID, "", countLines(2))
	got, last := lines(t, first)
	if strings.Join(got, ",") != "1:one,1:two" || last != "1-2" {
		t.Fatalf("first connection: lines %v, last id %q", got, last)
	}
	// Meanwhile the task goes on, with a line split in parts (one seq).
	f.addLines(task, "four")
	f.mu.Lock()
	f.logs[task] = append(f.logs[task],
		schemas.LogLine{Seq: 5, Part: 1, More: true, Text: "fi"},
		schemas.LogLine{Seq: 5, Part: 2, More: true, Text: "v"},
		schemas.LogLine{Seq: 5, Part: 3, Text: "e"})
	f.mu.Unlock()

	// It reconnects with the last id it saw: the stream goes on after it.
	second := readEvents(t, d, jobID, last, countLines(3))
	got2, last2 := lines(t, second)
	if strings.Join(got2, ",") != "1:three,1:four,1:five" || last2 != "1-5" {
		t.Fatalf("second connection: lines %v, last id %q", got2, last2)
	}

	// The attempt fails, a retry runs and the job ends; a third
	// connection picks up after the first attempt's last line.
	code := 0
	f.mu.Lock()
	f.logs[task] = append(f.logs[task], schemas.LogLine{Seq: 6, End: &schemas.LogEnd{Lines: 5}})
	f.mu.Unlock()
	f.addEvents(jobID, schemas.JobEvent{ID: "s2", Time: t0, Attempt: 2, Type: schemas.EventStarted, TaskID: task2})
	f.addLines(task2, "again")
	f.mu.Lock()
	f.logs[task2] = append(f.logs[task2], schemas.LogLine{Seq: 2, End: &schemas.LogEnd{Lines: 1}})
	f.mu.Unlock()
	f.addEvents(jobID, schemas.JobEvent{ID: "f", Time: t0, Attempt: 2, Type: schemas.EventFinished,
		Outcome: schemas.OutcomeSucceeded, ExitCode: &code})
	third := readEvents(t, d, jobID, last2, ended)
	got3, _ := lines(t, third)
	if strings.Join(got3, ",") != "2:again" {
		t.Fatalf("third connection: lines %v", got3)
	}
	var end stateEvent
	if err := json.Unmarshal([]byte(third[len(third)-1].data), &end); err != nil || end.State != "succeeded" || end.Attempt != 2 {
		t.Errorf("end event %s (%v)", third[len(third)-1].data, err)
	}

	// All at once from the start: every line once, in order, then the end.
	all := readEvents(t, d, jobID, "", ended)
	gotAll, _ := lines(t, all)
	if strings.Join(gotAll, ",") != "1:one,1:two,1:three,1:four,1:five,2:again" {
		t.Errorf("whole log: %v", gotAll)
	}
	// Resuming at the very end gives no line again, only the end.
	rest, _ := lines(t, readEvents(t, d, jobID, "2-1", ended))
	if len(rest) != 0 {
		t.Errorf("resumed after the last line: %v", rest)
	}
}

func TestLiveLogShowsLinesAsTheyComeAndTheStates(t *testing.T) {
	f := newFake()
	d := serve(t, f, Options{LogPoll: 5 * time.Millisecond, LogGrace: time.Hour})
	// The job is not recorded yet when the page opens; the stream waits
	// for it, and each step of the job happens once the page has shown
	// the one before.
	code := 4
	steps := []struct {
		shown func([]sse) bool
		do    func()
	}{
		{func(evs []sse) bool { return evs[len(evs)-1].event == "state" }, func() {
			f.addEvents(jobID, schemas.JobEvent{ID: "a", Time: t0, Type: schemas.EventAccepted, Container: "c", Script: "s"},
				schemas.JobEvent{ID: "s", Time: t0, Type: schemas.EventStarted, TaskID: task})
			f.addLines(task, "early")
		}},
		{countLines(1), func() { f.addLines(task, "late") }},
		{countLines(2), func() {
			f.mu.Lock()
			f.logs[task] = append(f.logs[task], schemas.LogLine{Seq: 3, End: &schemas.LogEnd{Lines: 2}})
			f.mu.Unlock()
			f.addEvents(jobID, schemas.JobEvent{ID: "f", Time: t0, Type: schemas.EventFinished, Outcome: schemas.OutcomeFailed,
				ExitCode: &code, Reason: "the task exited with code 4"})
		}},
	}
	evs := readEvents(t, d, jobID, "", func(evs []sse) bool {
		if len(steps) > 0 && steps[0].shown(evs) {
			steps[0].do()
			steps = steps[1:]
		}
		return ended(evs)
	})
	got, _ := lines(t, evs)
	if strings.Join(got, ",") != "1:early,1:late" {
		t.Errorf("lines %v", got)
	}
	var states []string
	for _, ev := range evs {
		if ev.event == "state" {
			var s stateEvent
			_ = json.Unmarshal([]byte(ev.data), &s)
			states = append(states, string(s.State))
		}
	}
	if len(states) < 3 || states[0] != "unknown" || states[1] != "running" || states[len(states)-1] != "failed" {
		t.Errorf("states %v, want unknown, running, ..., failed", states)
	}
}

func TestLiveLogEndsWithoutAnEndRecordAfterTheGrace(t *testing.T) {
	f := newFake()
	// The terminal event promises 2 lines: the stream ends once it has
	// them, with no end record.
	d := serve(t, f, Options{LogPoll: 5 * time.Millisecond, LogGrace: time.Hour})
	two := int64(2)
	f.addEvents(jobID, schemas.JobEvent{ID: "s", Time: t0, Type: schemas.EventStarted, TaskID: task},
		schemas.JobEvent{ID: "f", Time: t0, Type: schemas.EventFailed, Outcome: schemas.OutcomeLost, LogEvents: &two})
	f.addLines(task, "a", "b")
	if got, _ := lines(t, readEvents(t, d, jobID, "", ended)); len(got) != 2 {
		t.Errorf("lines %v", got)
	}
	// Nothing promised, no end record: it ends after the grace.
	const other = "01J9Z8Y7X6W5V4T3S2R1Q0P9NN"
	d2 := serve(t, f, Options{LogPoll: 5 * time.Millisecond, LogGrace: 50 * time.Millisecond})
	f.addEvents(other, schemas.JobEvent{ID: "s", Time: t0, Type: schemas.EventStarted, TaskID: "lt-x"},
		schemas.JobEvent{ID: "f", Time: t0, Type: schemas.EventFailed, Outcome: schemas.OutcomeLost})
	f.addLines("lt-x", "only")
	if got, _ := lines(t, readEvents(t, d2, other, "", ended)); len(got) != 1 {
		t.Errorf("lines %v", got)
	}
}

func TestLiveLogRefusesABadLastEventID(t *testing.T) {
	d := serve(t, newFake(), Options{})
	for _, id := range []string{"x", "1", "0-1", "1--1", "-1-2", "1-2-3", "99999999999-1", strings.Repeat("9", 40)} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, d.srv.URL+"/jobs/"+jobID+"/events", nil)
		req.Header.Set("Last-Event-ID", id)
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: %d, want 400", id, resp.StatusCode)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "1-0", "2-42", "1-", "-", "a-b", "1-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil || s == "" {
			return
		}
		if c.attempt < 1 || c.seq < 0 {
			t.Fatalf("parseCursor(%q) = %+v", s, c)
		}
		back, err := parseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("parseCursor(%q) = %+v, which reads back as %+v (%v)", s, c, back, err)
		}
	})
}
