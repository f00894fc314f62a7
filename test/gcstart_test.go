package test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoCollectionAtStart runs the built binaries and checks, from the
// runtime's own traces, that none of them collects, neither during init
// nor when main releases the collector: gcstart holds it off while their
// packages initialise and until the heap reaches its held goal, which
// these commands, which end soon after init, never do. deployer-aws's
// init allocates more than Go's first heap goal (4 MB): without gcstart
// it would collect (the test's teeth); the others' inits now allocate
// less (deployer, without the AWS SDK, under 1 MB), and must not grow
// into collecting unnoticed.
func TestNoCollectionAtStart(t *testing.T) {
	t.Parallel()
	const firstGoal = 4 << 20
	for _, c := range []struct {
		bin  string
		args []string
		// heavy: its init allocates more than Go's first heap goal.
		heavy bool
	}{
		{deployerAWSBin, []string{"--version"}, true},
		{deployerBin, []string{"--version"}, false},
		{workerBin, []string{"--version"}, false},
		{gatekeeperBin, nil, false}, // outside Lambda it fails, after its init
		{logshipperBin, nil, false},
	} {
		name := filepath.Base(c.bin)
		if name == "bootstrap" {
			name = filepath.Base(filepath.Dir(c.bin))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), c.bin, c.args...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GODEBUG=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1,gctrace=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			_ = cmd.Run() // the Lambdas exit non-zero outside Lambda
			var inits, allocated int
			var collections []string
			sc := bufio.NewScanner(&stderr)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "init "):
					inits++
					allocated += initBytes(t, line)
					if len(collections) > 0 {
						t.Fatalf("collected during init, before %q:\n%s", line, strings.Join(collections, "\n"))
					}
				case strings.HasPrefix(line, "gc "):
					collections = append(collections, line)
				}
			}
			if inits < 10 {
				t.Fatalf("%d packages' init traced: no init trace", inits)
			}
			if c.heavy && allocated < firstGoal {
				t.Fatalf("%d packages' init traced, %d bytes allocated: not a binary whose init would collect at Go's default", inits, allocated)
			}
			if len(collections) > 0 {
				t.Fatalf("collected after init, as main released the collector:\n%s", strings.Join(collections, "\n"))
			}
		})
	}
}

// initBytes reads the bytes an inittrace line says a package's init
// allocated ("init PKG @0.4 ms, 0.01 ms clock, 1408 bytes, 4 allocs").
func initBytes(t *testing.T, line string) int {
	t.Helper()
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.TrimSuffix(f, ",") == "bytes" && i > 0 {
			n, err := strconv.Atoi(fields[i-1])
			if err != nil {
				t.Fatalf("inittrace line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("inittrace line %q: no byte count", line)
	return 0
}
