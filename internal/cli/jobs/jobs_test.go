package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestNewCmdJobsParsesFlags(t *testing.T) {
	clock = func() time.Time { return now }
	t.Cleanup(func() { clock = time.Now })
	const batch = "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	cases := []struct {
		name    string
		args    []string
		want    Options
		wantErr int
	}{
		{name: "defaults", want: Options{Limit: 50, Output: "text"}},
		{
			name: "every flag",
			args: []string{"--state", "queued,running", "--state", "failed", "--state", "queued", "--container", "infra",
				"--lane", "ami", "--batch", batch, "--since", "2h", "--limit", "7", "--output", "json"},
			want: Options{
				States:    []producer.JobState{producer.StateQueued, producer.StateRunning, producer.StateFailed},
				Container: "infra", Lane: "ami", BatchID: batch, Since: now.Add(-2 * time.Hour), Limit: 7, Output: "json",
			},
		},
		{name: "since a time", args: []string{"--since", "2026-11-29T08:00:00+01:00"}, want: Options{Since: time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC), Limit: 50, Output: "text"}},
		{name: "every outcome", args: []string{"--state", "succeeded,failed,rejected,timed_out,cancelled,could_not_start,lost"},
			want: Options{States: producer.JobStates()[2:], Limit: 50, Output: "text"}},
		{name: "unknown state", args: []string{"--state", "waiting"}, wantErr: producer.ExitUsage},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantErr: producer.ExitUsage},
		{name: "negative since", args: []string{"--since", "-2h"}, wantErr: producer.ExitUsage},
		{name: "bad batch", args: []string{"--batch", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"}, wantErr: producer.ExitUsage},
		{name: "zero limit", args: []string{"--limit", "0"}, wantErr: producer.ExitUsage},
		{name: "bad output", args: []string{"--output", "yaml"}, wantErr: producer.ExitUsage},
		{name: "an argument", args: []string{"extra"}, wantErr: 1}, // the root command makes it 64
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
			var got *Options
			cmd := NewCmdJobs(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.ExecuteContext(context.Background())
			if c.wantErr != 0 {
				if factory.Code(err) != c.wantErr || got != nil {
					t.Fatalf("err = %v (exit %d), want exit %d", err, factory.Code(err), c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Factory, got.Now = nil, nil
			if !got.Since.Equal(c.want.Since) {
				t.Fatalf("since %s, want %s", got.Since, c.want.Since)
			}
			got.Since, c.want.Since = time.Time{}, time.Time{}
			if !slices.Equal(got.States, c.want.States) {
				t.Fatalf("states %v, want %v", got.States, c.want.States)
			}
			got.States, c.want.States = nil, nil
			if !reflect.DeepEqual(*got, c.want) {
				t.Fatalf("options %+v, want %+v", *got, c.want)
			}
		})
	}
}

// TestJobsOnAStateDirectory runs the command on an embedded state
// directory whose journal holds a few jobs, one with hostile arguments.
func TestJobsOnAStateDirectory(t *testing.T) {
	dir := t.TempDir()
	b, err := embedded.Open(t.Context(), dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Millisecond)
	var ids []string
	record := func(ct, script string, argv []string, steps ...schemas.EventType) {
		at = at.Add(time.Hour)
		id := ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
		ids = append(ids, id)
		evs := []schemas.JobEvent{{Type: schemas.EventAccepted, Container: ct, Script: script, Argv: argv, Lane: "ami", LaneLimit: 1}}
		for _, st := range steps {
			ev := schemas.JobEvent{Type: st}
			if st == schemas.EventFinished {
				code := 3
				ev.Outcome, ev.ExitCode = schemas.OutcomeFailed, &code
			}
			evs = append(evs, ev)
		}
		for i := range evs {
			evs[i].Schema, evs[i].JobID, evs[i].ID, evs[i].Attempt = schemas.JobEventV1, id, string(evs[i].Type), 1
			evs[i].Time = at.Add(time.Duration(i) * time.Second)
		}
		if err := b.Journal.Append(t.Context(), id, evs...); err != nil {
			t.Fatal(err)
		}
	}
	record("infra", "plan", []string{"-var", "x=\x1b[31mred\x1b[0m\r\u202eevil"}, schemas.EventQueued, schemas.EventStarted, schemas.EventFinished)
	record("infra", "apply", nil, schemas.EventQueued, schemas.EventStarting)
	record("web", "build", []string{"v1"}, schemas.EventQueued)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		f := &factory.Factory{
			IO:         factory.IOStreams{Out: &out, ErrOut: &errOut},
			Getenv:     func(string) string { return "" },
			Executable: func() (string, error) { return "/nonexistent/deployer", nil },
			StateDir:   dir,
		}
		cmd := NewCmdJobs(f, nil)
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		err := cmd.ExecuteContext(t.Context())
		return out.String(), errOut.String(), factory.Code(err)
	}

	out, errOut, code := run()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "JOB ID") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range []string{ids[2] + "  queued", ids[1] + "  running", ids[0] + "  failed"} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("line %d %q, want it to start %q", i+1, lines[i+1], want)
		}
	}
	if strings.ContainsAny(out, "\x1b\r\u202e") {
		t.Fatalf("control characters reached the table: %q", out)
	}
	if !strings.Contains(lines[3], `\x1b[31mred\x1b[0m\r\u202eevil`) || !strings.HasSuffix(lines[3], "3") || !strings.Contains(lines[3], " 2h ") {
		t.Errorf("failed job's line %q", lines[3])
	}
	// Columns line up.
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("STATE column not at %d in %q", col, l)
		}
	}

	out, errOut, code = run("--state", "queued,failed", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []Job
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var j Job
		if err := dec.Decode(&j); err != nil {
			t.Fatal(err)
		}
		got = append(got, j)
	}
	if len(got) != 2 || got[0].JobID != ids[2] || got[0].State != "queued" || got[1].JobID != ids[0] || got[1].State != "failed" {
		t.Fatalf("json: %s", out)
	}
	if j := got[1]; j.Container != "infra" || j.Script != "plan" || len(j.Argv) != 2 || j.Lane != "ami" || j.ExitCode == nil ||
		*j.ExitCode != 3 || j.Outcome != schemas.OutcomeFailed || j.Submitted == nil || j.Started == nil || j.Ended == nil {
		t.Fatalf("failed job: %+v", j)
	}

	if out, _, code = run("--container", "web", "--since", "90m"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("--container web --since 90m (exit %d):\n%s", code, out)
	}
	if _, errOut, code = run("--batch", "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"); code != 66 || !strings.Contains(errOut, "no batch") {
		t.Fatalf("unknown batch: exit %d, %q", code, errOut)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", 47 * time.Hour: "47h", 50 * time.Hour: "2d"} {
		if got := Age(now, now.Add(-d)); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
	if Age(now, time.Time{}) != "-" {
		t.Error("Age of a zero time")
	}
}

// A canary's line says it is one, in the table and in JSON.
func TestJobsShowsACanary(t *testing.T) {
	sums := []producer.JobSummary{{JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", State: producer.StateSucceeded, Container: "infra", Canary: true, Lane: "default"}}
	var table, js bytes.Buffer
	if err := WriteTable(&table, sums, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "canary (deployer-task --version)") {
		t.Errorf("table:\n%s", table.String())
	}
	if err := WriteJSON(&js, sums); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"canary":true`) {
		t.Errorf("json: %s", js.String())
	}
}
