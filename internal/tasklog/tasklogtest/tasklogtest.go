// Package tasklogtest is the conformance suite of the task log port. Every
// adapter's tests call Run with a Harness that writes lines the way the
// backend's producer of logs does; a behaviour the suite does not check is
// not guaranteed by the port.
//
// Every test uses fresh task ids and assumes nothing about what else the
// backend holds. Reads that must see earlier writes poll with a deadline
// (Timeout), so eventually consistent backends pass too.
package tasklogtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/schemas"
)

// Timeout bounds how long the suite waits for written lines to be
// readable.
const Timeout = 30 * time.Second

// MaxLineBytes is the longest line the suite writes.
const MaxLineBytes = 64 * 1024

// Harness is a task log source and a way to feed it.
type Harness struct {
	// Source is the adapter under test.
	Source tasklog.Source
	// Write appends lines to the task's log the way the backend's
	// producer does (the local runner's supervisor; the awslogs driver).
	// The suite writes each task's lines once, in seq order from 1, in
	// one or more calls.
	Write func(ctx context.Context, taskID string, lines []schemas.LogLine) error
}

// Run runs the suite. newHarness is called once per test (with that
// test's t) and may return handles on one shared backend.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"ReadAfterSeq", testAfterSeq},
		{"Paging", testPaging},
		{"TextExact", testText},
		{"Timestamps", testTimes},
		{"IDs", testIDs},
		{"NotFound", testNotFound},
		{"TasksIsolated", testIsolated},
		{"Growing", testGrowing},
		{"ReadAppend", testAppend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func newTask() string { return "tasklogtest-" + ulid.Make().String() }

var base = time.Now().UTC().Truncate(time.Second)

// lines returns lines from..to (inclusive) with texts made by text.
func lines(from, to int64, text func(seq int64) string) []schemas.LogLine {
	var out []schemas.LogLine
	for s := from; s <= to; s++ {
		out = append(out, schemas.LogLine{Seq: s, Time: base.Add(time.Duration(s) * time.Millisecond), Text: text(s)})
	}
	return out
}

func plain(seq int64) string { return fmt.Sprintf("line %d", seq) }

func write(t *testing.T, h Harness, taskID string, ls []schemas.LogLine, batch int) {
	t.Helper()
	for i := 0; i < len(ls); i += batch {
		if err := h.Write(t.Context(), taskID, ls[i:min(i+batch, len(ls))]); err != nil {
			t.Fatalf("Write(%s, lines %d..): %v", taskID, ls[i].Seq, err)
		}
	}
}

// readUntil reads the task from afterSeq with limit until a read returns
// at least want lines, and returns that read.
func readUntil(t *testing.T, h Harness, taskID string, afterSeq int64, limit, want int) []schemas.LogLine {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		got, err := h.Source.Read(t.Context(), taskID, afterSeq, limit)
		if err != nil && !errors.Is(err, tasklog.ErrNotFound) {
			t.Fatalf("Read(%s, %d, %d): %v", taskID, afterSeq, limit, err)
		}
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Read(%s, %d, %d): %d lines after %s, want %d (last error %v)",
				taskID, afterSeq, limit, len(got), Timeout, want, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkSeqs checks that got holds exactly seqs from..to.
func checkSeqs(t *testing.T, got []schemas.LogLine, from, to int64) {
	t.Helper()
	if want := int(to - from + 1); len(got) != want {
		t.Fatalf("got %d lines, want %d (seq %d..%d)", len(got), want, from, to)
	}
	for i, l := range got {
		if l.Seq != from+int64(i) {
			t.Fatalf("line %d has seq %d, want %d", i, l.Seq, from+int64(i))
		}
	}
}

func testAfterSeq(t *testing.T, h Harness) {
	task := newTask()
	write(t, h, task, lines(1, 10, plain), 10)
	all := readUntil(t, h, task, 0, 100, 10)
	checkSeqs(t, all, 1, 10)
	for i, l := range all {
		if l.Text != plain(int64(i+1)) {
			t.Fatalf("line %d: %q, want %q", l.Seq, l.Text, plain(int64(i+1)))
		}
	}
	got := readUntil(t, h, task, 4, 100, 6)
	checkSeqs(t, got, 5, 10)
	got = readUntil(t, h, task, 4, 3, 3)
	checkSeqs(t, got, 5, 7)
	// Past the end: nothing, and no error.
	for _, after := range []int64{10, 11, 1000} {
		got, err := h.Source.Read(t.Context(), task, after, 100)
		if err != nil {
			t.Fatalf("Read after seq %d of 10: %v", after, err)
		}
		if len(got) != 0 {
			t.Fatalf("Read after seq %d of 10 returned %d lines", after, len(got))
		}
	}
}

func testPaging(t *testing.T, h Harness) {
	task := newTask()
	const n = 3000
	write(t, h, task, lines(1, n, plain), 500)
	readUntil(t, h, task, n-1, 10, 1) // the last line is readable
	for _, limit := range []int{1000, 250, 999} {
		var all []schemas.LogLine
		var after int64
		for pages := 0; ; pages++ {
			if pages > n/limit+2 {
				t.Fatalf("limit %d: more than %d pages", limit, pages)
			}
			page, err := h.Source.Read(t.Context(), task, after, limit)
			if err != nil {
				t.Fatalf("Read(after %d, limit %d): %v", after, limit, err)
			}
			if len(page) > limit {
				t.Fatalf("Read(limit %d) returned %d lines", limit, len(page))
			}
			all = append(all, page...)
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].Seq
		}
		checkSeqs(t, all, 1, n)
		for _, l := range all {
			if l.Text != plain(l.Seq) {
				t.Fatalf("limit %d: line %d is %q, want %q", limit, l.Seq, l.Text, plain(l.Seq))
			}
		}
	}
}

func testText(t *testing.T, h Harness) {
	task := newTask()
	texts := []string{
		"",
		"plain",
		"trailing spaces   ",
		"   leading spaces",
		"\ttabs\tinside\t",
		"",
		"unicode: héllo wörld — 日本語 — Ελληνικά — 🚀🔥 — e\u0301",
		`quotes "double" 'single' \backslash\ {"json": [1, 2]} <html>&amp;`,
		"control: \x1b[31mred\x1b[0m bell\a",
		"percent %s %d %% and ${VAR} $(cmd)",
		strings.Repeat("x", 1000),
		strings.Repeat("long line ", MaxLineBytes/10) + strings.Repeat("y", MaxLineBytes%10),
		strings.Repeat("ü", MaxLineBytes/2), // two bytes each
		" ",
		"last",
	}
	ls := make([]schemas.LogLine, len(texts))
	for i, s := range texts {
		ls[i] = schemas.LogLine{Seq: int64(i + 1), Time: base.Add(time.Duration(i) * time.Millisecond), Text: s}
	}
	write(t, h, task, ls, len(ls))
	got := readUntil(t, h, task, 0, 100, len(texts))
	checkSeqs(t, got, 1, int64(len(texts)))
	for i, l := range got {
		if l.Text != texts[i] {
			t.Errorf("line %d: got %d bytes %.80q, want %d bytes %.80q", l.Seq, len(l.Text), l.Text, len(texts[i]), texts[i])
		}
	}
}

func testTimes(t *testing.T, h Harness) {
	task := newTask()
	times := []time.Time{
		base.Add(123456789 * time.Nanosecond), // sub-millisecond part dropped
		base.Add(time.Second),
		base.Add(time.Second), // same instant
		base.Add(time.Second + time.Millisecond),
		base.In(time.FixedZone("UTC+5:30", 5*3600+1800)).Add(2 * time.Second), // another zone, same instant kind
		base.Add(3*time.Second + 999*time.Millisecond),
	}
	ls := make([]schemas.LogLine, len(times))
	for i, tm := range times {
		ls[i] = schemas.LogLine{Seq: int64(i + 1), Time: tm, Text: fmt.Sprint("at ", i)}
	}
	write(t, h, task, ls, 2)
	got := readUntil(t, h, task, 0, 100, len(times))
	checkSeqs(t, got, 1, int64(len(times)))
	for i, l := range got {
		if l.Time.UnixMilli() != times[i].UnixMilli() {
			t.Errorf("line %d: time %s, want %s to the millisecond", l.Seq,
				l.Time.Format(time.RFC3339Nano), times[i].Format(time.RFC3339Nano))
		}
	}
}

func testIDs(t *testing.T, h Harness) {
	task := newTask()
	write(t, h, task, lines(1, 50, plain), 20)
	got := readUntil(t, h, task, 0, 100, 50)
	seen := map[string]bool{}
	for _, l := range got {
		if l.ID == "" {
			t.Fatalf("line %d has no id", l.Seq)
		}
		if seen[l.ID] {
			t.Fatalf("line %d repeats id %q", l.Seq, l.ID)
		}
		seen[l.ID] = true
	}
	// Ids are stable: reading again gives the same.
	again := readUntil(t, h, task, 0, 100, 50)
	for i := range got {
		if again[i].ID != got[i].ID {
			t.Fatalf("line %d: id %q, then %q", got[i].Seq, got[i].ID, again[i].ID)
		}
	}
}

func testNotFound(t *testing.T, h Harness) {
	for _, after := range []int64{0, 5} {
		_, err := h.Source.Read(t.Context(), newTask(), after, 100)
		if !errors.Is(err, tasklog.ErrNotFound) {
			t.Fatalf("Read of an unknown task after %d: got %v, want tasklog.ErrNotFound", after, err)
		}
	}
}

func testIsolated(t *testing.T, h Harness) {
	a, b := newTask(), newTask()
	textA := func(s int64) string { return fmt.Sprintf("task a line %d", s) }
	textB := func(s int64) string { return fmt.Sprintf("task b line %d", s) }
	write(t, h, a, lines(1, 5, textA), 5)
	write(t, h, b, lines(1, 3, textB), 3)
	write(t, h, a, lines(6, 8, textA), 3)
	for _, tc := range []struct {
		task string
		n    int64
		text func(int64) string
	}{{a, 8, textA}, {b, 3, textB}} {
		got := readUntil(t, h, tc.task, 0, 100, int(tc.n))
		checkSeqs(t, got, 1, tc.n)
		for _, l := range got {
			if l.Text != tc.text(l.Seq) {
				t.Fatalf("task %s line %d: %q, want %q", tc.task, l.Seq, l.Text, tc.text(l.Seq))
			}
		}
	}
}

// testGrowing reads a log while it is being written, as a follower
// filling gaps does.
func testGrowing(t *testing.T, h Harness) {
	task := newTask()
	var after int64
	for chunk := int64(0); chunk < 5; chunk++ {
		from, to := chunk*40+1, chunk*40+40
		write(t, h, task, lines(from, to, plain), 15)
		got := readUntil(t, h, task, after, 1000, int(to-after))
		checkSeqs(t, got, after+1, to)
		after = to
	}
}

// testAppend: an adapter that is a tasklog.Appender appends what Read
// returns, leaves what dst held, and reads right into a slice reused
// read after read.
func testAppend(t *testing.T, h Harness) {
	app, ok := h.Source.(tasklog.Appender)
	if !ok {
		t.Skip("the adapter is not a tasklog.Appender")
	}
	task := newTask()
	const n = 3000
	write(t, h, task, lines(1, n, plain), 500)
	readUntil(t, h, task, n-1, 10, 1) // the last line is readable

	mark := schemas.LogLine{Seq: -1, Text: "already there"}
	got, err := app.ReadAppend(t.Context(), task, 4, 3, []schemas.LogLine{mark})
	if err != nil {
		t.Fatalf("ReadAppend(after 4, limit 3): %v", err)
	}
	if len(got) == 0 || got[0] != mark {
		t.Fatalf("ReadAppend changed what dst held: %+v", got)
	}
	checkSeqs(t, got[1:], 5, 7)

	var buf []schemas.LogLine
	var after int64
	for after < n {
		want, err := h.Source.Read(t.Context(), task, after, 700)
		if err != nil {
			t.Fatalf("Read(after %d, limit 700): %v", after, err)
		}
		if buf, err = app.ReadAppend(t.Context(), task, after, 700, buf[:0]); err != nil {
			t.Fatalf("ReadAppend(after %d, limit 700): %v", after, err)
		}
		if len(buf) != len(want) {
			t.Fatalf("ReadAppend(after %d, limit 700): %d lines, Read %d", after, len(buf), len(want))
		}
		for i := range want {
			if buf[i] != want[i] {
				t.Fatalf("ReadAppend(after %d): line %d is %+v, Read's %+v", after, i, buf[i], want[i])
			}
		}
		checkSeqs(t, buf, after+1, min(after+700, n))
		after = buf[len(buf)-1].Seq
	}

	got, err = app.ReadAppend(t.Context(), newTask(), 0, 10, []schemas.LogLine{mark})
	if !errors.Is(err, tasklog.ErrNotFound) || len(got) != 1 || got[0] != mark {
		t.Fatalf("ReadAppend of a task with no log: %+v, %v; want dst as it was and ErrNotFound", got, err)
	}
}
