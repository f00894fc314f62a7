package logshipper_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

var update = flag.Bool("update", false, "rebuild testdata/*.json Lambda events from testdata/payloads/")

// TestTestdataMatchesPayloads checks that each captured Lambda event in
// testdata/ holds exactly the readable payload beside it in
// testdata/payloads/ (what CloudWatch gzips), so reviewers can read what
// the tests feed the handler. With -update it rebuilds the events:
//
//	go test ./logshipper -run TestTestdataMatchesPayloads -update
func TestTestdataMatchesPayloads(t *testing.T) {
	sources, err := filepath.Glob(filepath.Join("testdata", "payloads", "*"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no payloads in testdata/payloads (%v)", err)
	}
	for _, src := range sources {
		name := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)) + ".json"
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				writeEvent(t, path, payload)
			}
			ev := loadEvent(t, name)
			raw, err := base64.StdEncoding.DecodeString(ev.AWSLogs.Data)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("%s does not hold %s; rebuild with -update", path, src)
			}
		})
	}
}

func writeEvent(t *testing.T, path string, payload []byte) {
	t.Helper()
	out, err := json.MarshalIndent(events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(t, payload)}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

func gzipBase64(tb testing.TB, payload []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(payload); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func loadEvent(tb testing.TB, name string) events.CloudwatchLogsEvent {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var ev events.CloudwatchLogsEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		tb.Fatal(err)
	}
	return ev
}
