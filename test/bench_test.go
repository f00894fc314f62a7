package test

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

const benchConfig = `
containers:
  bench:
    local: {scripts_dir: SCRIPTS}
    timeout: 10m
    script_config:
      quick: {allowed_options: []}
      lines: {allowed_options: []}
`

var benchScripts = map[string]string{
	"quick": "#!/bin/sh\necho ready\n",
	"lines": "#!/bin/sh\nseq 1 100000\n",
}

// BenchmarkRunLatency measures, for a script that prints one line and
// exits 0, the time from starting "deployer run" to the task's first line
// and to deployer's exit — alone (the pipeline served in-process) and
// against a running "deployer up" — next to running the script directly.
func BenchmarkRunLatency(b *testing.B) {
	e := newEnv(b, benchConfig, benchScripts)
	script := filepath.Join(e.scripts, "quick")
	b.Run("direct", func(b *testing.B) {
		first, exit := measure(b, func() *exec.Cmd { return exec.Command(script) })
		report(b, first, exit)
	})
	b.Run("run-alone", func(b *testing.B) {
		first, exit := measure(b, func() *exec.Cmd { return e.cmd(context.Background(), "run", "--", "bench", "quick") })
		report(b, first, exit)
	})
	b.Run("run-with-up", func(b *testing.B) {
		up := e.start("up")
		up.stderr.waitFor(b, regexp.MustCompile(`serving`), time.Minute)
		first, exit := measure(b, func() *exec.Cmd { return e.cmd(context.Background(), "run", "--", "bench", "quick") })
		report(b, first, exit)
	})
}

// BenchmarkPipelineLines measures lines per second for a task printing
// 100,000 lines through the whole pipeline, next to the same script
// printing straight to /dev/null.
func BenchmarkPipelineLines(b *testing.B) {
	e := newEnv(b, benchConfig, benchScripts)
	b.Run("direct-devnull", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			c := exec.Command(filepath.Join(e.scripts, "lines"))
			c.Stdout = io.Discard
			if err := c.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(100000*b.N)/time.Since(start).Seconds(), "lines/s")
	})
	b.Run("pipeline", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			c := e.cmd(context.Background(), "run", "--", "bench", "lines")
			out, err := c.Output()
			if err != nil {
				b.Fatal(err)
			}
			if n := countLines(out); n != 100000 {
				b.Fatalf("got %d lines, want 100000", n)
			}
		}
		b.ReportMetric(float64(100000*b.N)/time.Since(start).Seconds(), "lines/s")
	})
}

// measure runs the command b.N times and returns the durations to its
// first line of output and to its exit.
func measure(b *testing.B, mk func() *exec.Cmd) (first, exit []time.Duration) {
	b.Helper()
	for range b.N {
		c := mk()
		c.Stderr = io.Discard
		out, err := c.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(out)
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatalf("no output: %v", err)
		}
		first = append(first, time.Since(start))
		_, _ = io.Copy(io.Discard, r)
		if err := c.Wait(); err != nil {
			b.Fatal(err)
		}
		exit = append(exit, time.Since(start))
	}
	return first, exit
}

func report(b *testing.B, first, exit []time.Duration) {
	b.ReportMetric(median(first).Seconds()*1000, "ms-to-first-line")
	b.ReportMetric(median(exit).Seconds()*1000, "ms-to-exit")
	b.ReportMetric(0, "ns/op")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
