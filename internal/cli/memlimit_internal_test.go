package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: commands that follow output keep to cliMemoryLimit;
// serving commands and a GOMEMLIMIT the user set keep theirs.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	for _, c := range []struct {
		args  []string
		env   string
		limit int64
	}{
		{args: []string{"--config", "d.yaml", "run", "--", "infra", "plan"}, limit: cliMemoryLimit},
		{args: []string{"up", "--metrics-addr", "127.0.0.1:0"}, limit: math.MaxInt64},
		{args: []string{"__supervise", "/state", "lt-x-1"}, limit: math.MaxInt64},
		{args: []string{"run", "--", "infra", "plan"}, env: "1GiB", limit: math.MaxInt64},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		t.Setenv("GOMEMLIMIT", c.env)
		limitMemory(c.args)
		if got := debug.SetMemoryLimit(-1); got != c.limit {
			t.Errorf("%q with GOMEMLIMIT=%q: limit %d, want %d", c.args, c.env, got, c.limit)
		}
	}
}
