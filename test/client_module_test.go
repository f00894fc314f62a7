package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// clientProgram is a Go program of a module of its own that uses the
// client as docs/client.md shows: it serves the embedded state directory
// in-process, submits a job, follows it, prints the output and the exit
// code, and exits with it.
const clientProgram = `package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/schemas"
)

func main() {
	// Tasks run as this program re-executed.
	if code, ok := client.RunTaskProcess(context.Background(), os.Args[1:]); ok {
		os.Exit(code)
	}
	stateDir := flag.String("state-dir", "", "the state directory")
	config := flag.String("config", "", "the configuration file")
	flag.Parse()
	os.Exit(run(*stateDir, *config, flag.Args()))
}

func run(stateDir, config string, argv []string) int {
	ctx := context.Background()
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()

	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(sctx, client.ServeOptions{Config: config}) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			fmt.Fprintln(os.Stderr, "serving:", err)
		}
	}()

	job, err := c.Submit(ctx, client.Request{Container: argv[0], Script: argv[1], Args: argv[2:]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("job", job.ID)
	res, err := c.Follow(ctx, job.ID, client.FollowOptions{
		OnLine: func(_ int, l schemas.LogLine) { fmt.Println("|", l.Text) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("exit code", res.ExitCode())
	return res.ExitCode()
}
`

// TestClientFromAnotherModule: the Go client compiles and runs against
// the embedded backend from a module outside this one, which requires
// github.com/deployerhq/deployer (replaced by this checkout) and imports
// only its public packages; the deployer CLI then reads the same state
// directory and tells the same story. The module resolves its
// dependencies as a user's would (-mod=mod, this environment's GOPROXY
// and module cache), with this module's go.sum so that nothing needs the
// checksum database.
func TestClientFromAnotherModule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
containers:
  demo:
    local:
      scripts_dir: SCRIPTS
    script_config:
      hello:
        allow_positional_args: true
        allowed_options: []
      fail:
        allowed_options: []
`, map[string]string{
		"hello": "#!/bin/sh\necho \"hello, $1\"\necho \"second line\"\n",
		"fail":  "#!/bin/sh\necho 'about to fail'\nexit 3\n",
	})
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ourMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(ourMod)
	if goLine == nil {
		t.Fatal("no go directive in go.mod")
	}
	mod := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/deployclient\n\n" + string(goLine) + "\n\n" +
			"require github.com/deployerhq/deployer v0.0.0\n\n" +
			"replace github.com/deployerhq/deployer => " + root + "\n",
		"main.go": clientProgram,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}

	goRun := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", append([]string{"run", ".", "-state-dir", e.state, "-config", e.config, "--"}, args...)...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"), "GOWORK=off", "GOTOOLCHAIN=local")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &ee) && strings.Contains(out.String(), "exit code"):
			return out.String(), ee.ExitCode()
		}
		t.Fatalf("go run %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
		return "", 0
	}

	out, _ := goRun("demo", "hello", "from another module")
	m := regexp.MustCompile(`^job (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the program printed no job id:\n%s", out)
	}
	if want := "job " + m[1] + "\n| hello, from another module\n| second line\nexit code 0\n"; out != want {
		t.Fatalf("the program printed\n%s\nwant\n%s", out, want)
	}
	out, code := goRun("demo", "fail")
	if !strings.HasSuffix(out, "| about to fail\nexit code 3\n") || code == 0 {
		t.Errorf("the failing job: exit %d, printed\n%s", code, out)
	}

	// The CLI reads what the program ran: one state directory, one story.
	r := e.run("status", m[1])
	if r.code != 0 || !regexp.MustCompile(`state\s+finished \(succeeded\)`).MatchString(r.stdout) {
		t.Errorf("deployer status %s: exit %d\n%s%s", m[1], r.code, r.stdout, r.stderr)
	}
	r = e.run("logs", m[1])
	if r.code != 0 || r.stdout != "hello, from another module\nsecond line\n" {
		t.Errorf("deployer logs %s: exit %d, stdout %q; stderr:\n%s", m[1], r.code, r.stdout, r.stderr)
	}
}
