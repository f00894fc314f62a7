package cancel

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
)

const jobID = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"

func TestNewCmdCancelParsesFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    Options
		wantErr int // exit code; 0 = no error
	}{
		{
			name: "defaults",
			args: []string{jobID},
			want: Options{JobID: jobID, MaxWait: producer.DefaultMaxWait, AnswerWait: DefaultAnswerWait, Output: "text"},
		},
		{
			name: "every flag",
			args: []string{"--reason", "wrong ref", "--wait", "--max-wait-time", "10m", "--answer-wait", "30s", "--output", "json", jobID},
			want: Options{JobID: jobID, Reason: "wrong ref", Wait: true, MaxWait: 10 * time.Minute, AnswerWait: 30 * time.Second, Output: "json"},
		},
		// Argument-count errors are plain errors here; the root command
		// makes them usage errors (64).
		{name: "no job", args: nil, wantErr: 1},
		{name: "two jobs", args: []string{jobID, jobID}, wantErr: 1},
		{name: "not a job id", args: []string{"latest"}, wantErr: producer.ExitUsage},
		{name: "bad output", args: []string{"--output", "yaml", jobID}, wantErr: producer.ExitUsage},
		{name: "zero answer wait", args: []string{"--answer-wait", "0s", jobID}, wantErr: producer.ExitUsage},
		{name: "zero max wait", args: []string{"--max-wait-time", "0s", jobID}, wantErr: producer.ExitUsage},
		{name: "reason too long", args: []string{"--reason", strings.Repeat("x", 1025), jobID}, wantErr: producer.ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
			var got *Options
			cmd := NewCmdCancel(f, func(_ context.Context, o *Options) error { got = o; return nil })
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
			got.Factory = nil
			if *got != c.want {
				t.Fatalf("options %+v, want %+v", *got, c.want)
			}
		})
	}
}

func TestPrintAnswer(t *testing.T) {
	for _, c := range []struct {
		output  string
		ans     producer.CancelAnswer
		out, er string
	}{
		{"text", producer.CancelAnswer{Accepted: true}, "cancel of job " + jobID + " accepted\n", ""},
		{"text", producer.CancelAnswer{ReasonCode: "caller_not_allowed", Reason: "no"}, "", "deployer: cancel of job " + jobID + " rejected [caller_not_allowed]: no\n"},
		{"json", producer.CancelAnswer{ReasonCode: "unknown_job", Reason: "none"}, `{"job_id":"` + jobID + `","accepted":false,"reason_code":"unknown_job","reason":"none"}` + "\n", ""},
	} {
		var out, errOut bytes.Buffer
		if err := printAnswer(&out, &errOut, &Options{JobID: jobID, Output: c.output}, c.ans); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.out || errOut.String() != c.er {
			t.Errorf("%s %+v: stdout %q stderr %q, want %q and %q", c.output, c.ans, out.String(), errOut.String(), c.out, c.er)
		}
	}
}
