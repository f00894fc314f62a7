package up

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/worker"
)

// parse runs "deployer up" with args up to where it would serve, and
// returns the options it would serve with and its exit code.
func parse(args []string) (*Options, int) {
	var got *Options
	f := &factory.Factory{IO: factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	cmd := NewCmdUp(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return got, factory.Code(cmd.Execute())
}

func TestPollFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		poll time.Duration
	}{
		{nil, 0, worker.DefaultPoll},
		{[]string{"--poll", "250ms"}, 0, 250 * time.Millisecond},
		{[]string{"--poll", "0s"}, 64, 0},
		{[]string{"--poll", "-1s"}, 64, 0},
	} {
		got, code := parse(c.args)
		if code != c.code {
			t.Errorf("%v: code %d, want %d", c.args, code, c.code)
			continue
		}
		if c.code == 0 && got.Poll != c.poll {
			t.Errorf("%v: --poll %s, want %s", c.args, got.Poll, c.poll)
		}
	}
}

func TestUIFlags(t *testing.T) {
	for _, c := range []struct {
		args  []string
		code  int
		addr  string
		allow bool
	}{
		{nil, 0, "", false},
		{[]string{"--ui-addr", "127.0.0.1:8080"}, 0, "127.0.0.1:8080", false},
		{[]string{"--ui-addr", "127.0.0.1:0", "--ui-allow-actions"}, 0, "127.0.0.1:0", true},
		{[]string{"--ui-allow-actions"}, 64, "", false},
		{[]string{"--ui-addr", "nowhere"}, 64, "", false},
		{[]string{"--ui-addr", "127.0.0.1:0", "--idle-exit", "1m"}, 64, "", false},
	} {
		got, code := parse(c.args)
		if code != c.code {
			t.Errorf("%v: code %d, want %d", c.args, code, c.code)
			continue
		}
		if c.code == 0 && (got.UIAddr != c.addr || got.UIAllowActions != c.allow) {
			t.Errorf("%v: --ui-addr %q, --ui-allow-actions %v", c.args, got.UIAddr, got.UIAllowActions)
		}
	}
}
