package logshipper_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/schemas"
)

func TestDecodeSubscriptionAWSExample(t *testing.T) {
	// aws-lambda-go's events/testdata/cloudwatch-logs-event.json, AWS's
	// documented example of what a subscription delivers to Lambda.
	const data = "H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6sQbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBUk+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="
	d, err := logshipper.DecodeSubscription(data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := events.CloudwatchLogsRawData{Data: data}.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d) != fmt.Sprint(want) || d.MessageType != logshipper.MessageData || len(d.LogEvents) != 2 || d.LogEvents[1].ID != "eventId2" {
		t.Errorf("decoded %+v, aws-lambda-go parses %+v", d, want)
	}
}

func TestDecodeSubscriptionErrors(t *testing.T) {
	for name, tc := range map[string]struct{ data, want string }{
		"bad base64":       {"H4sI!!", "base64:"},
		"not gzip":         {base64.StdEncoding.EncodeToString([]byte("plain text")), "gzip:"},
		"truncated gzip":   {truncatedGzip(t), "gzip:"},
		"truncated json":   {gzipBase64(t, []byte(`{"messageType":"DATA_MESSAGE","logEvents":[`)), "json:"},
		"trailing garbage": {gzipBase64(t, []byte(`{"messageType":"DATA_MESSAGE"} {}`)), "json:"},
		"wrong types":      {gzipBase64(t, []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"id":1}]}`)), "json:"},
		"no message type":  {gzipBase64(t, []byte(`{"logEvents":[]}`)), `unknown messageType ""`},
		"empty":            {"", "gzip:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := logshipper.DecodeSubscription(tc.data)
			if !errors.Is(err, logshipper.ErrMalformedPayload) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrMalformedPayload naming %q", err, tc.want)
			}
		})
	}
}

// truncatedGzip returns a gzip stream cut short, in base64.
func truncatedGzip(t *testing.T) string {
	raw, err := base64.StdEncoding.DecodeString(gzipBase64(t, []byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}`)))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw[:len(raw)-6])
}

// payloadOfSize returns a DATA_MESSAGE of exactly n bytes of JSON.
func payloadOfSize(t testing.TB, n int) []byte {
	t.Helper()
	head := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"deployer/c/` + testTask + `","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":1,"message":"`
	tail := `"}]}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func TestDecodeSubscriptionSizeCap(t *testing.T) {
	// Exactly at the cap decodes.
	d, err := logshipper.DecodeSubscription(gzipBase64(t, payloadOfSize(t, logshipper.MaxDecodedSize)))
	if err != nil || len(d.LogEvents) != 1 {
		t.Fatalf("a payload of exactly MaxDecodedSize: %v", err)
	}
	// One byte more is refused, and the error says what the limit is.
	_, err = logshipper.DecodeSubscription(gzipBase64(t, payloadOfSize(t, logshipper.MaxDecodedSize+1)))
	if !errors.Is(err, logshipper.ErrMalformedPayload) || !strings.Contains(err.Error(), "8 MiB") {
		t.Errorf("one byte over the cap: %v, want ErrMalformedPayload naming the 8 MiB limit", err)
	}
}

func TestDecodeSubscriptionGzipBombAllocatesLittle(t *testing.T) {
	// 64 MiB of zeros gzip to 64 KiB; decoding must stop at the cap.
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 64 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := base64.StdEncoding.EncodeToString(buf.Bytes())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = logshipper.DecodeSubscription(data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, logshipper.ErrMalformedPayload) || !strings.Contains(err.Error(), "8 MiB") {
		t.Fatalf("gzip bomb: %v, want the size limit error", err)
	}
	t.Logf("decoding a gzip bomb allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	// The compressed input and the gzip reader's state: nothing near the
	// cap, since the payload is measured before it is held.
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("decoding a gzip bomb allocated %d bytes, want under 1 MiB", got)
	}
}

func TestShipperUnsequencedLines(t *testing.T) {
	// 1201 lines: three events of at most MaxLinesPerEvent lines.
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var lines []schemas.LogLine
	for i := range 1201 {
		lines = append(lines, schemas.LogLine{ID: fmt.Sprint(i + 1), Time: base.Add(time.Duration(i/7) * time.Millisecond), Text: fmt.Sprint("line ", i+1)})
	}
	reversed := make([]schemas.LogLine, len(lines))
	for i, l := range lines {
		reversed[len(lines)-1-i] = l
	}
	ship := func(ls []schemas.LogLine) []schemas.JobEvent {
		rec := &recorder{}
		s := &logshipper.Shipper{Streams: rec, Now: func() time.Time { return shipTime }}
		if err := s.Ship(context.Background(), logshipper.Batch{JobID: testJob, Attempt: 1, TaskID: testTask, Stream: "s", Lines: ls}); err != nil {
			t.Fatal(err)
		}
		return rec.events("s")
	}
	first, again := ship(lines), ship(reversed)
	if len(first) != 3 {
		t.Fatalf("%d events, want 3", len(first))
	}
	next := 1
	for i, ev := range first {
		if ev.ID != again[i].ID || fmt.Sprint(ev.Lines) != fmt.Sprint(again[i].Lines) {
			t.Errorf("event %d differs when the same lines arrive in another order: %s vs %s", i, ev.ID, again[i].ID)
		}
		if want := fmt.Sprintf("log:%s:%d-%d", testTask, next, next+len(ev.Lines)-1); ev.ID != want {
			t.Errorf("event %d id %s, want %s", i, ev.ID, want)
		}
		for _, l := range ev.Lines {
			if l.ID != fmt.Sprint(next) {
				t.Fatalf("event %d: line %s where line %d belongs", i, l.ID, next)
			}
			next++
		}
	}
}

// TestShippedLinesReachSQLiteStreamFollowers ships a captured batch to a
// real sqlitestream and reads it back as a follower would.
func TestShippedLinesReachSQLiteStreamFollowers(t *testing.T) {
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	streams, err := sqlitestream.New(db, sqlitestream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := streams.Create(ctx, testJob, time.Hour); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.l.Shipper.Streams = streams
	h.l.StreamAddress = sqlitestream.Address
	if err := h.handle(t, "ecs-data-message.json"); err != nil {
		t.Fatal(err)
	}
	// What was stored decodes under the job event contract...
	rec := newHarness(t)
	if err := rec.handle(t, "ecs-data-message.json"); err != nil {
		t.Fatal(err)
	}
	body, err := rec.rec.events(address(testJob))[0].Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.DecodeJobEvent(body); err != nil {
		t.Fatalf("a shipped CloudWatch log event does not decode as a job event (stream subscribers would drop it): %v", err)
	}
	// ...and reaches a subscriber.
	sub, err := streams.Subscribe(ctx, sqlitestream.Address(testJob))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || len(evs[0].Lines) != 4 || evs[0].Lines[0].ID != eid(1) {
		t.Errorf("subscriber read %+v, want one log event of 4 lines", evs)
	}
}

// FuzzDecodeSubscription feeds the decoder hostile awslogs.data strings,
// and hostile JSON wrapped in valid gzip and base64 (wrap set) so the
// fuzzer reaches the JSON decoder. It must never panic, never allocate
// much past the cap, and what it returns must fit under the cap.
func FuzzDecodeSubscription(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range names {
		ev := loadEvent(f, filepath.Base(name))
		f.Add([]byte(ev.AWSLogs.Data), false)
	}
	payloads, _ := filepath.Glob(filepath.Join("testdata", "payloads", "*"))
	for _, p := range payloads {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	// One writer, reset per input: a new gzip.Writer costs more than the
	// decode under test. Fuzz workers run inputs one at a time.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	f.Fuzz(func(t *testing.T, in []byte, wrap bool) {
		data := string(in)
		if wrap {
			buf.Reset()
			zw.Reset(&buf)
			if _, err := zw.Write(in); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			data = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := logshipper.DecodeSubscription(data)
		runtime.ReadMemStats(&after)
		// Decoded JSON holds at most the cap, its strings about as much
		// again; the input and the gzip state come on top.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*logshipper.MaxDecodedSize+2*len(data)+1<<20); got > limit {
			t.Fatalf("decoding %d bytes allocated %d, over %d", len(data), got, limit)
		}
		if err != nil {
			if !errors.Is(err, logshipper.ErrMalformedPayload) {
				t.Fatalf("error %v does not wrap ErrMalformedPayload", err)
			}
			return
		}
		size := 0
		for _, e := range d.LogEvents {
			size += len(e.ID) + len(e.Message)
		}
		if size > logshipper.MaxDecodedSize {
			t.Fatalf("decoded %d bytes of events, over the cap", size)
		}
		if d.MessageType != logshipper.MessageData && d.MessageType != logshipper.MessageControl {
			t.Fatalf("accepted messageType %q", d.MessageType)
		}
		lines, _, _ := logshipper.LinesFromEvents(testJob, 1, d.LogEvents)
		for i := 1; i < len(lines); i++ {
			a, b := lines[i-1], lines[i]
			switch {
			case a.Seq == 0 && b.Seq == 0 && b.Time.Before(a.Time):
				t.Fatalf("unsequenced lines out of time order at %d", i)
			case a.Seq > 0 && (b.Seq < a.Seq || (b.Seq == a.Seq && b.Part < a.Part)):
				t.Fatalf("lines out of sequence at %d", i)
			case a.Seq > 0 && b.Seq == 0:
				t.Fatalf("an unsequenced line after a sequenced one at %d", i)
			}
		}
	})
}

// BenchmarkHandle1MBBatch decodes, maps and ships a full CloudWatch batch:
// 1 MB of events (CloudWatch's batch limit), about 8,000 lines.
func BenchmarkHandle1MBBatch(b *testing.B) {
	const lineLen = 100
	d := events.CloudwatchLogsData{
		MessageType: logshipper.MessageData, Owner: "123456789012", LogGroup: "/deployer/tasks",
		LogStream: "deployer/terraform-planner/" + testTask, SubscriptionFilters: []string{"deployer-logshipper"},
	}
	size := 0
	for i := 0; size < 1<<20; i++ {
		e := events.CloudwatchLogsLogEvent{
			ID:        eid(i),
			Timestamp: 1763856000000 + int64(i/10),
			Message:   fmt.Sprintf("%06d %s", i, strings.Repeat("terraform output ", lineLen/17)),
		}
		// CloudWatch counts each event as its message plus 26 bytes.
		size += len(e.Message) + 26
		d.LogEvents = append(d.LogEvents, e)
	}
	js, err := json.Marshal(d)
	if err != nil {
		b.Fatal(err)
	}
	ev := events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(b, js)}}
	h := newHarness(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.rec.published = nil
		if err := h.l.Handle(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(d.LogEvents))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(len(d.LogEvents)), "lines/batch")
	b.ReportMetric(float64(h.rec.total()), "events/batch")
}
