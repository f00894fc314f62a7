package up

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/schemas"
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

// TestAWSSecretsWarning: a configuration whose containers name Secrets
// Manager or SSM secrets, served by a deployer with no deployer-aws of
// its build beside it, is warned of, naming those containers and what to
// install; without such secrets there is nothing to say.
func TestAWSSecretsWarning(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "deployer")
	cfg := schemas.Config{Containers: map[string]schemas.Container{
		"web":   {Secrets: map[string]string{"T": "env:TOKEN", "F": "file:/run/token"}},
		"infra": {Secrets: map[string]string{"T": "env:TOKEN", "DB": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"}},
		"build": {Secrets: map[string]string{"P": "/ci/param"}},
	}}
	w := awsSecretsWarning(exe, cfg)
	for _, want := range []string{"the secrets of build, infra name Secrets Manager or SSM", "no " + filepath.Join(filepath.Dir(exe), "deployer-aws"), "their tasks will not start", "Install deployer-aws of the same build next to " + exe} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q, want it to say %q", w, want)
		}
	}
	delete(cfg.Containers, "infra")
	delete(cfg.Containers, "build")
	if w := awsSecretsWarning(exe, cfg); w != "" {
		t.Errorf("env: and file: secrets only: warning %q", w)
	}
}
