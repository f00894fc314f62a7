package reload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

const (
	allowS = "containers:\n  c:\n    image: x\n    script_config:\n      s: {}\n"
	allowT = "containers:\n  c:\n    image: x\n    script_config:\n      t: {}\n"
	// broken has two problems, both to be reported.
	broken = "containers:\n  c:\n    image: x\n    imagee: y\n    task_cpu: lots\n    script_config:\n      s: {}\n"
)

// messages collects what a Reloader writes, one Write per message.
type messages struct {
	mu   sync.Mutex
	all  []string
	more chan struct{}
}

func newMessages() *messages { return &messages{more: make(chan struct{}, 100)} }

func (m *messages) Write(p []byte) (int, error) {
	m.mu.Lock()
	m.all = append(m.all, string(p))
	m.mu.Unlock()
	m.more <- struct{}{}
	return len(p), nil
}

// next waits for the next message.
func (m *messages) next(t *testing.T) string {
	t.Helper()
	select {
	case <-m.more:
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := m.all[0]
	m.all = m.all[1:]
	return msg
}

func setup(t *testing.T) (*Reloader, *messages, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "deployer.yaml")
	write(t, path, allowS)
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := newMessages()
	r := &Reloader{
		Path: path, Live: policy.NewLive(p), Out: out, Debounce: 20 * time.Millisecond,
		Load: func(path string) (*policy.Policy, error) { return policy.Load(path) },
	}
	return r, out, path
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run serves r until the test ends.
func run(t *testing.T, r *Reloader, hup chan os.Signal, watch bool) {
	t.Helper()
	if watch {
		if err := r.Watch(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, hup); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestReloadRefusesABrokenFile(t *testing.T) {
	r, out, path := setup(t)
	before := r.Live.Current()
	write(t, path, broken)
	if _, err := r.Reload(context.Background(), "SIGHUP"); err == nil {
		t.Fatal("a broken file was put in force")
	}
	if r.Live.Current() != before {
		t.Fatal("a refused reload replaced the policy in force")
	}
	msg := out.next(t)
	for _, want := range []string{path, "refused", "still enforcing " + before.Digest(), "containers.c.imagee", "containers.c.task_cpu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not say %q:\n%s", want, msg)
		}
	}
	// A missing file is refused the same way.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(context.Background(), "SIGHUP"); err == nil || r.Live.Current() != before {
		t.Fatal("a missing file was put in force")
	}
}

func TestWatchSeesWritesAndAtomicReplacement(t *testing.T) {
	r, out, path := setup(t)
	var applied []string
	r.Applied = func(p *policy.Policy) { applied = append(applied, p.Digest()) }
	run(t, r, nil, true)

	// Written in place.
	write(t, path, allowT)
	msg := out.next(t)
	tPol, _ := policy.Parse([]byte(allowT), filepath.Dir(path))
	if !strings.Contains(msg, "configuration reloaded: "+tPol.Digest()) || r.Live.Digest() != tPol.Digest() {
		t.Fatalf("after a write: %q, in force %s, want %s", msg, r.Live.Digest(), tPol.Digest())
	}

	// Replaced as editors do: a copy renamed over the file.
	tmp := filepath.Join(filepath.Dir(path), ".deployer.yaml.swp")
	write(t, tmp, allowS)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	msg = out.next(t)
	sPol, _ := policy.Parse([]byte(allowS), filepath.Dir(path))
	if !strings.Contains(msg, "configuration reloaded: "+sPol.Digest()) || r.Live.Digest() != sPol.Digest() {
		t.Fatalf("after a rename: %q, in force %s, want %s", msg, r.Live.Digest(), sPol.Digest())
	}

	// Broken: refused, the old policy stays.
	write(t, path, broken)
	if msg = out.next(t); !strings.Contains(msg, "refused (file changed)") || r.Live.Digest() != sPol.Digest() {
		t.Fatalf("after a broken write: %q, in force %s", msg, r.Live.Digest())
	}
	if len(applied) != 2 {
		t.Errorf("Applied called for %v, want the two policies put in force", applied)
	}
}

func TestSIGHUPReloadsWithoutWatching(t *testing.T) {
	r, out, path := setup(t)
	hup := make(chan os.Signal, 1)
	run(t, r, hup, false)
	write(t, path, allowT)
	hup <- syscall.SIGHUP
	msg := out.next(t)
	if !strings.Contains(msg, "configuration reloaded: ") || !strings.Contains(msg, "SIGHUP") || strings.Contains(msg, "unchanged") {
		t.Fatalf("after SIGHUP: %q", msg)
	}
	hup <- syscall.SIGHUP
	if msg = out.next(t); !strings.Contains(msg, "unchanged") {
		t.Fatalf("a second SIGHUP: %q", msg)
	}
}
