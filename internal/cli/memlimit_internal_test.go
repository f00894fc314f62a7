package cli

import (
	"math"
	"runtime"
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

// TestLimitProcs: commands that follow one job, and a task's supervisor,
// run on one P; serving commands and a GOMAXPROCS the user set keep
// theirs.
func TestLimitProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, c := range []struct {
		args []string
		env  string
		want int
	}{
		{args: []string{"--config", "d.yaml", "run", "--", "infra", "plan"}, want: 1},
		{args: []string{"__supervise", "/state", "lt-x-1"}, want: 1},
		{args: []string{"up", "--metrics-addr", "127.0.0.1:0"}, want: 3},
		{args: []string{"ui"}, want: 3},
		{args: []string{"run", "--", "infra", "plan"}, env: "3", want: 3},
	} {
		runtime.GOMAXPROCS(3)
		t.Setenv("GOMAXPROCS", c.env)
		limitProcs(c.args)
		if got := runtime.GOMAXPROCS(0); got != c.want {
			t.Errorf("%q with GOMAXPROCS=%q: %d Ps, want %d", c.args, c.env, got, c.want)
		}
	}
}
