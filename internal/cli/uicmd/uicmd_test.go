package uicmd

import (
	"bytes"
	"context"
	"testing"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want Options
	}{
		{nil, 0, Options{Addr: DefaultAddr}},
		{[]string{"--allow-actions"}, 0, Options{Addr: DefaultAddr, AllowActions: true}},
		{[]string{"--addr", "[::1]:9000"}, 0, Options{Addr: "[::1]:9000"}},
		{[]string{"--addr", "0.0.0.0:8080", "--allow-actions"}, 0, Options{Addr: "0.0.0.0:8080", AllowActions: true}},
		{[]string{"--addr", "8080"}, 64, Options{}},
	} {
		var got *Options
		f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		cmd := NewCmdUI(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if code := factory.Code(err); code != c.code {
			t.Errorf("%v: code %d (%v), want %d", c.args, factory.Code(err), err, c.code)
			continue
		}
		if c.code == 0 && (got.Addr != c.want.Addr || got.AllowActions != c.want.AllowActions) {
			t.Errorf("%v: %+v, want %+v", c.args, *got, c.want)
		}
	}
}
