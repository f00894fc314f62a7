package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

func newFactory(t *testing.T) (*factory.Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errOut bytes.Buffer
	state := t.TempDir()
	f := &factory.Factory{
		IO: factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv: func(k string) string {
			if k == "DEPLOYER_STATE_DIR" {
				return state
			}
			return ""
		},
		Executable: os.Executable,
	}
	return f, &out, &errOut
}

func TestDescribeContainersFlagListsTheBuiltInExample(t *testing.T) {
	for _, args := range [][]string{{"--describe-containers"}, {"describe"}} {
		f, out, errOut := newFactory(t)
		if code := Execute(context.Background(), f, args); code != 0 {
			t.Fatalf("%v: exit %d; stderr:\n%s", args, code, errOut)
		}
		for _, want := range []string{"demo", "plan", "--path", "restricted:  --destroy"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
}

func TestExitCodesOfBadInvocations(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"no-such-command"}, 64},
		{[]string{"run"}, 64},
		{[]string{"status"}, 64},
		{[]string{"status", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", "extra"}, 64},
		{[]string{"--no-such-flag"}, 64},
		{[]string{"config", "validate", "/no/such/file.yaml"}, 78},
		{[]string{"--config", "/no/such/file.yaml", "describe"}, 78},
		{[]string{"batch", "run"}, 64},
		{[]string{"batch", "run", "-f", "/no/such/manifest.yaml"}, 64},
		{[]string{"batch", "run", "-f", "testdata/not-a-manifest.yaml"}, 64},
		{[]string{"batch", "run", "-f", "x.yaml", "--output", "yaml"}, 64},
		{[]string{"batch", "run", "-f", "x.yaml", "--max-wait-time", "0s"}, 64},
		{[]string{"batch", "run", "-f", "x.yaml", "--no-such-flag"}, 64},
		{[]string{"batch", "wait"}, 64},
		{[]string{"batch", "wait", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"}, 64}, // a job id, not a batch id
		{[]string{"batch", "status", "batch-x"}, 64},
		{[]string{"batch", "cancel", "batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", "extra"}, 64},
		{[]string{"batch", "logs"}, 64},
		{[]string{"batch", "list", "--limit", "0"}, 64},
		{[]string{"batch", "list", "extra"}, 64},
	}
	for _, c := range cases {
		f, _, errOut := newFactory(t)
		if code := Execute(context.Background(), f, c.args); code != c.code {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", c.args, code, c.code, errOut)
		}
		if errOut.Len() == 0 {
			t.Errorf("%v: no message on stderr", c.args)
		}
	}
}

// BenchmarkCommandLine is what every deployer command pays before its own
// work, "deployer run" included: building the command tree and parsing
// a command line (--version). Completions are registered only for a
// completion request: walking every command's flags for them took
// ~0.4 ms of this, nine tenths.
func BenchmarkCommandLine(b *testing.B) {
	for b.Loop() {
		var out bytes.Buffer
		f := &factory.Factory{IO: factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, Getenv: func(string) string { return "" }}
		if code := Execute(context.Background(), f, []string{"--version"}); code != 0 {
			b.Fatalf("--version: exit %d\n%s", code, out.String())
		}
	}
}
