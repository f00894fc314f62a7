package gcstart_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/gcstart"
)

// childEnv, set, has the test binary report its GOGC as a child would see
// it after Restore, instead of running the tests.
const childEnv = "GCSTART_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		gcstart.Restore()
		_, gogc := os.LookupEnv("GOGC")
		_, marker := os.LookupEnv(gcstart.Marker)
		fmt.Printf("percent=%d gogc=%t marker=%t\n", debug.SetGCPercent(-1), gogc, marker)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEnv(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     []string
		wantEnv []string
	}{
		{name: "no GOGC: the child's init collects late", env: []string{"PATH=/bin", "HOME=/h"},
			wantEnv: []string{"PATH=/bin", "HOME=/h", "GOGC=" + gcstart.Init, gcstart.Marker + "=1"}},
		{name: "the user's GOGC is kept", env: []string{"GOGC=50", "PATH=/bin"},
			wantEnv: []string{"GOGC=50", "PATH=/bin"}},
		{name: "an empty GOGC is the user's too", env: []string{"GOGC=", "PATH=/bin"},
			wantEnv: []string{"GOGC=", "PATH=/bin"}},
		{name: "a stale marker is replaced, not doubled", env: []string{gcstart.Marker + "=1", "PATH=/bin"},
			wantEnv: []string{"PATH=/bin", "GOGC=" + gcstart.Init, gcstart.Marker + "=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.env)
			if got := gcstart.Env(in); !slices.Equal(got, c.wantEnv) {
				t.Errorf("Env(%q) = %q, want %q", c.env, got, c.wantEnv)
			}
			if !slices.Equal(in, c.env) {
				t.Errorf("Env changed its argument: %q", in)
			}
		})
	}
}

// TestChild starts the test binary as a child: with Env's environment it
// ends up at Go's default with neither variable left; a GOGC of the
// user's stays, in the runtime and the environment.
func TestChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{childEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, gcstart.Marker+"=") {
			base = append(base, kv)
		}
	}
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{name: "started with Env", env: gcstart.Env(base), want: "percent=100 gogc=false marker=false"},
		{name: "the user's GOGC", env: gcstart.Env(append(slices.Clone(base), "GOGC=50")), want: "percent=50 gogc=true marker=false"},
		{name: "started otherwise", env: base, want: "percent=100 gogc=false marker=false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), exe)
			cmd.Env = c.env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != c.want {
				t.Errorf("child reports %q, want %q", got, c.want)
			}
		})
	}
}
