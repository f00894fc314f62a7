// Command maxrss runs a command, its standard streams its own, writes the
// command's maximum resident set size (ru_maxrss, KiB) to the file -o
// names and exits with the command's exit code. The memory benchmark
// (test/bench_test.go) runs "deployer run" under it because it cannot
// read that figure off its own child: Go starts children with
// CLONE_VM|CLONE_VFORK, and Linux then counts the parent's peak RSS (the
// test process's, ~100 MiB) in the child's. This program's own peak, a
// few MiB, is far under any figure it measures.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) < 3 || args[0] != "-o" {
		fmt.Fprintln(os.Stderr, "usage: maxrss -o FILE COMMAND [ARG...]")
		return 2
	}
	c := exec.CommandContext(context.Background(), args[2], args[3:]...) //nolint:gosec // runs the command it is given: test support
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(os.Stderr, "maxrss: %v\n", err)
		return 1
	}
	ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintf(os.Stderr, "maxrss: no resource usage (%T)\n", c.ProcessState.SysUsage())
		return 1
	}
	if err := os.WriteFile(args[1], []byte(strconv.FormatInt(ru.Maxrss, 10)+"\n"), 0o600); err != nil { //nolint:gosec // writes where its caller says: test support
		fmt.Fprintf(os.Stderr, "maxrss: %v\n", err)
		return 1
	}
	return c.ProcessState.ExitCode()
}
