package doctor

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
)

func TestNewCmdDoctorParsesFlags(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		want    Options
		wantErr int
	}{
		{name: "defaults", want: Options{Timeout: DefaultTimeout, Output: "text"}},
		{name: "every flag", args: []string{"--timeout", "2m", "--container", "infra", "--container", "packer", "--output", "json"},
			want: Options{Timeout: 2 * time.Minute, Containers: []string{"infra", "packer"}, Output: "json"}},
		{name: "no canary", args: []string{"--skip-canary"}, want: Options{Timeout: DefaultTimeout, SkipCanary: true, Output: "text"}},
		{name: "zero timeout", args: []string{"--timeout", "0s"}, wantErr: producer.ExitUsage},
		{name: "empty container", args: []string{"--container", ""}, wantErr: producer.ExitUsage},
		{name: "canaries and none", args: []string{"--skip-canary", "--container", "infra"}, wantErr: producer.ExitUsage},
		{name: "bad output", args: []string{"--output", "yaml"}, wantErr: producer.ExitUsage},
		{name: "an argument", args: []string{"extra"}, wantErr: 1}, // the root command makes it 64
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
			var got *Options
			cmd := NewCmdDoctor(f, func(_ context.Context, o *Options) error { got = o; return nil })
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
			if got.Permissions == nil {
				t.Fatal("no permission checker seam")
			}
			got.Factory, got.Permissions = nil, nil
			if !reflect.DeepEqual(*got, c.want) {
				t.Fatalf("options %+v, want %+v", *got, c.want)
			}
		})
	}
}
