package run

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
)

func TestNewCmdRunParsesFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    Options
		wantErr int // exit code; 0 = no error
	}{
		{
			name: "defaults",
			args: []string{"--", "demo", "plan", "--path", "x"},
			want: Options{Container: "demo", Script: "plan", Args: []string{"--path", "x"}, MaxWait: producer.DefaultMaxWait, Output: "text"},
		},
		{
			name: "script flags are not deployer flags, even without --",
			args: []string{"demo", "plan", "--no-wait", "--output=json"},
			want: Options{Container: "demo", Script: "plan", Args: []string{"--no-wait", "--output=json"}, MaxWait: producer.DefaultMaxWait, Output: "text"},
		},
		{
			name: "every flag",
			args: []string{"--max-wait-time", "90s", "--task-cpu", "512", "--task-memory", "1024", "--no-wait", "--output", "json", "--timestamps", "--", "c", "s"},
			want: Options{Container: "c", Script: "s", Args: []string{}, MaxWait: 90 * time.Second, TaskCPU: 512, TaskMemory: 1024, NoWait: true, Output: "json", Timestamps: true},
		},
		{
			name: "a CI dialect",
			args: []string{"--output", "github", "--", "c", "s"},
			want: Options{Container: "c", Script: "s", Args: []string{}, MaxWait: producer.DefaultMaxWait, Output: "github"},
		},
		{
			name: "plain",
			args: []string{"--output=plain", "--", "c", "s"},
			want: Options{Container: "c", Script: "s", Args: []string{}, MaxWait: producer.DefaultMaxWait, Output: "plain"},
		},
		{name: "no script", args: []string{"--", "demo"}, wantErr: producer.ExitUsage},
		{name: "bad output", args: []string{"--output", "yaml", "--", "c", "s"}, wantErr: producer.ExitUsage},
		{name: "negative cpu", args: []string{"--task-cpu", "-1", "--", "c", "s"}, wantErr: producer.ExitUsage},
		{name: "zero wait", args: []string{"--max-wait-time", "0s", "--", "c", "s"}, wantErr: producer.ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
			var got *Options
			cmd := NewCmdRun(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.ExecuteContext(context.Background())
			if c.wantErr != 0 {
				if factory.Code(err) != c.wantErr {
					t.Fatalf("err = %v (exit %d), want exit %d", err, factory.Code(err), c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Factory = nil
			if got.Args == nil {
				got.Args = []string{}
			}
			if g, w := *got, c.want; g.Container != w.Container || g.Script != w.Script || len(g.Args) != len(w.Args) ||
				g.MaxWait != w.MaxWait || g.TaskCPU != w.TaskCPU || g.TaskMemory != w.TaskMemory ||
				g.NoWait != w.NoWait || g.Output != w.Output || g.Timestamps != w.Timestamps {
				t.Fatalf("options %+v, want %+v", g, w)
			}
			for i := range c.want.Args {
				if got.Args[i] != c.want.Args[i] {
					t.Fatalf("args %q, want %q", got.Args, c.want.Args)
				}
			}
		})
	}
}
