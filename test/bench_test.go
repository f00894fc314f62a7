package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fast path's figures (issue 20), each against a baseline measured in
// the same run, on the embedded backend:
//
//	BenchmarkFastPathNoop     deployer run of a no-op script ÷ direct exec  ≤ 10×
//	BenchmarkFastPathLines    100,000 lines/s through deployer run ÷ tee   ≥ 0.25×
//	BenchmarkFastPathLatency  line written by the script → printed, p99    ≤ 50 ms
//	BenchmarkFastPathMemory   max RSS of deployer run following 1,000,000 lines ≤ 64 MiB
//	internal/embedded's BenchmarkSubmit1000: jobs/s                        ≥ 500
//
// Each one logs a line saying the figure, its target and whether it is
// met. One op of these benchmarks is a round of several runs of the
// binary (fixed counts, below): a round takes about a second or more, so
// b.Loop runs one or two at the default -benchtime (dozens of the cheap
// direct rounds), and -benchtime 1x runs exactly one. Figures are medians (or
// percentiles) over every run of the rounds; ns/op, the time of a round,
// is suppressed as meaningless, and B/op and allocs/op are the test
// process's, not deployer's.
const (
	// noopRuns is how many runs of each kind a no-op round makes.
	noopRuns = 20
	// lineRuns is how many runs of each kind a lines round makes.
	lineRuns = 3
	// stampLines and stampEvery shape the latency script's output.
	stampLines, stampEvery = 300, 2 * time.Millisecond
	// maxRSS is the memory target of a deployer run following output.
	maxRSS = 64 << 20
)

const fastPathConfig = `
containers:
  bench:
    local: {scripts_dir: SCRIPTS}
    timeout: 10m
    script_config:
      noop: {allowed_options: []}
      seq: {allowed_options: []}
      wide: {allowed_options: []}
      seq1m: {allowed_options: []}
      stamp: {allowed_options: []}
`

// wideLine is the format of the "wide" script's lines: 79 bytes and a
// newline, like a terraform plan's.
const wideLine = "module.vpc.aws_subnet.private[%06d]: Refreshing state... [id=subnet-%08x]\n"

// fastPathScripts are the benchmarks' scripts; stamp runs stamperBin.
func fastPathScripts() map[string]string {
	return map[string]string{
		"noop":  "#!/bin/sh\nexit 0\n",
		"seq":   "#!/bin/sh\nexec seq 1 100000\n",
		"wide":  "#!/bin/sh\nexec awk 'BEGIN { for (i = 1; i <= 100000; i++) printf \"" + strings.ReplaceAll(wideLine, "\n", `\n`) + "\", i, i }'\n",
		"seq1m": "#!/bin/sh\nexec seq 1 1000000\n",
		"stamp": fmt.Sprintf("#!/bin/sh\nexec %s -n %d -every %s\n", stamperBin, stampLines, stampEvery),
	}
}

// newFastPathEnv is a setup with the fast path's scripts.
func newFastPathEnv(b *testing.B) *env {
	b.Helper()
	return newEnv(b, fastPathConfig, fastPathScripts())
}

// BenchmarkFastPathNoop times a script that does nothing: run directly,
// through "deployer run" served by "deployer up", and through "deployer
// run" serving itself. Every deployer run is paired with a direct run
// just before it, so that the ratio ("x-direct") compares runs made
// under the same load of the machine.
//
// self-served: each round first stops the detached server, so that each
// timed run ("ms", "x-direct") finds none, as the first run in 30s does:
// it includes starting "deployer up --idle-exit" in the background and
// waiting until it serves, on a state directory that exists. The run
// right after it, served by that server, is "ms-warm"; one on a new state
// directory (a first run ever, as on a fresh CI machine: it creates the
// SQLite database too) is "ms-fresh-state".
func BenchmarkFastPathNoop(b *testing.B) {
	noop := func(e *env) *exec.Cmd { return exec.Command(filepath.Join(e.scripts, "noop")) }
	run := func(e *env) *exec.Cmd { return e.cmd(context.Background(), "run", "--", "bench", "noop") }
	b.Run("direct", func(b *testing.B) {
		e := newFastPathEnv(b)
		timed(b, noop(e)) // warm-up
		var direct []time.Duration
		for b.Loop() {
			for range noopRuns {
				direct = append(direct, timed(b, noop(e)))
			}
		}
		reportMs(b, "ms", direct)
		b.ReportMetric(0, "ns/op")
		b.Logf("no-op script run directly: %s median over %d runs (the baseline)", ms(median(direct)), len(direct))
	})
	b.Run("served-by-up", func(b *testing.B) {
		e := newFastPathEnv(b)
		e.startUp(b)
		timed(b, run(e)) // warm-up
		var direct, served []time.Duration
		for b.Loop() {
			for range noopRuns {
				direct = append(direct, timed(b, noop(e)))
				served = append(served, timed(b, run(e)))
			}
		}
		x := ratio(served, direct)
		reportMs(b, "ms", served)
		reportMs(b, "ms-direct", direct)
		b.ReportMetric(x, "x-direct")
		b.ReportMetric(0, "ns/op")
		b.Logf("deployer run of a no-op script, served by up: %s vs %s direct = %.1f× (target ≤ 10×): %s",
			ms(median(served)), ms(median(direct)), x, met(x <= 10))
	})
	b.Run("self-served", func(b *testing.B) {
		e := newFastPathEnv(b)
		timed(b, run(e)) // warm-up: creates the state directory
		fresh := 0
		var direct, cold, warm, first []time.Duration
		for b.Loop() {
			for range noopRuns {
				stopServers(b, e)
				direct = append(direct, timed(b, noop(e)))
				cold = append(cold, timed(b, run(e)))
				if pids := serverPids(b, e); len(pids) != 1 {
					b.Fatalf("%d detached servers after a run that found none, want 1 (%v)", len(pids), pids)
				}
				warm = append(warm, timed(b, run(e)))

				f := *e
				fresh++
				f.state = filepath.Join(b.TempDir(), "state-"+strconv.Itoa(fresh))
				b.Cleanup(f.waitIdle)
				first = append(first, timed(b, run(&f)))
				stopServers(b, &f)
			}
		}
		stopServers(b, e)
		x := ratio(cold, direct)
		reportMs(b, "ms", cold)
		reportMs(b, "ms-direct", direct)
		b.ReportMetric(x, "x-direct")
		reportMs(b, "ms-warm", warm)
		b.ReportMetric(ratio(warm, direct), "x-direct-warm")
		reportMs(b, "ms-fresh-state", first)
		b.ReportMetric(ratio(first, direct), "x-direct-fresh-state")
		b.ReportMetric(0, "ns/op")
		b.Logf("deployer run of a no-op script, self-served (starts its server): %s vs %s direct = %.1f× (target ≤ 10×): %s; "+
			"next run, served by that server: %s = %.1f×; first run on a new state directory: %s = %.1f×",
			ms(median(cold)), ms(median(direct)), x, met(x <= 10),
			ms(median(warm)), ratio(warm, direct), ms(median(first)), ratio(first, direct))
	})
}

// BenchmarkFastPathLines times a script printing 100,000 lines through
// "deployer run" (served by "deployer up", its stdout a file) and piped
// into "tee FILE", runs of the two alternating; both files are checked
// line for line at their ends and counted. lines/s is 100,000 over the
// median wall time of a run, start-up included; "x-tee" is deployer's
// lines/s over tee's. Two scripts: seq (short lines) and wide (80-byte
// lines, like terraform's).
func BenchmarkFastPathLines(b *testing.B) {
	const n = 100000
	for _, v := range []struct{ script, first, last string }{
		{"seq", "1", "100000"},
		{"wide", fmt.Sprintf(wideLine, 1, 1), fmt.Sprintf(wideLine, n, n)},
	} {
		b.Run(v.script, func(b *testing.B) {
			e := newFastPathEnv(b)
			up := e.startUp(b)
			script := filepath.Join(e.scripts, v.script)
			out := filepath.Join(b.TempDir(), "out")
			check := func(what string) {
				b.Helper()
				if err := checkLines(out, n, strings.TrimSuffix(v.first, "\n"), strings.TrimSuffix(v.last, "\n")); err != nil {
					b.Fatalf("%s: %v", what, err)
				}
			}
			// CPU of each deployer run: its own, up's and that of up's
			// supervisors meanwhile (the task's, and a spare started;
			// /proc's clock ticks).
			var cpu cpuSpent
			deployer := func() time.Duration {
				c := e.cmd(context.Background(), "run", "--", "bench", v.script)
				f, err := os.Create(out)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = f.Close() }()
				c.Stdout = f
				before := procCPU(up.cmd.Process.Pid)
				d := timed(b, c)
				cpu.add(c.ProcessState, before, procCPU(up.cmd.Process.Pid))
				return d
			}
			tee := func() time.Duration {
				return timed(b, exec.Command("sh", "-c", `"$0" | tee "$1" >/dev/null`, script, out))
			}
			deployer() // warm-up
			check("deployer run")
			cpu = cpuSpent{}
			var teeRuns, runs []time.Duration
			for b.Loop() {
				for range lineRuns {
					teeRuns = append(teeRuns, tee())
					check("tee")
					runs = append(runs, deployer())
					check("deployer run")
				}
			}
			rate, teeRate := n/median(runs).Seconds(), n/median(teeRuns).Seconds()
			x := rate / teeRate
			b.ReportMetric(rate, "lines/s")
			b.ReportMetric(teeRate, "lines/s-tee")
			b.ReportMetric(x, "x-tee")
			b.ReportMetric(0, "ns/op")
			b.Logf("100,000 %s lines through deployer run: %.0f lines/s (%s) vs tee %.0f lines/s (%s) = %.2f× (target ≥ 0.25×): %s",
				v.script, rate, ms(median(runs)), teeRate, ms(median(teeRuns)), x, met(x >= 0.25))
			cpu.report(b)
		})
	}
}

// BenchmarkFastPathLatency runs a script that writes a line every 2ms,
// each carrying the time it was written (stamper), through "deployer run"
// served by "deployer up", and reads its output line by line as it
// arrives: a line's latency is its arrival less the time it carries.
func BenchmarkFastPathLatency(b *testing.B) {
	e := newFastPathEnv(b)
	e.startUp(b)
	var lat []time.Duration
	for b.Loop() {
		c := e.cmd(context.Background(), "run", "--", "bench", "stamp")
		var errOut bytes.Buffer
		c.Stderr = &errOut
		stdout, err := c.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		got := 0
		for {
			line, err := r.ReadString('\n')
			arrived := time.Now()
			if errors.Is(err, io.EOF) && line == "" {
				break
			}
			if err != nil {
				b.Fatalf("reading deployer run's output: %v", err)
			}
			got++
			stamp, rest, _ := strings.Cut(line, " ")
			ns, err := strconv.ParseInt(stamp, 10, 64)
			if err != nil || rest != fmt.Sprintf("line %d\n", got) {
				b.Fatalf("line %d is %q, want a time and %q", got, line, fmt.Sprintf("line %d", got))
			}
			lat = append(lat, arrived.Sub(time.Unix(0, ns)))
		}
		if err := c.Wait(); err != nil {
			b.Fatalf("deployer run: %v; stderr:\n%s", err, errOut.String())
		}
		if got != stampLines {
			b.Fatalf("got %d lines, want %d; stderr:\n%s", got, stampLines, errOut.String())
		}
	}
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	reportMs(b, "ms-p50", lat)
	b.ReportMetric(ms(p99).f, "ms-p99")
	b.ReportMetric(ms(slices.Max(lat)).f, "ms-max")
	b.ReportMetric(0, "ns/op")
	b.Logf("line latency, script → deployer run (served by up): p50 %s, p99 %s, max %s over %d lines (target p99 ≤ 50 ms): %s",
		ms(p50), ms(p99), ms(slices.Max(lat)), len(lat), met(p99 <= 50*time.Millisecond))
}

// BenchmarkFastPathMemory follows a script printing 100,000 and then
// 1,000,000 lines with "deployer run" (served by "deployer up"; its
// output counted and dropped) and reports the run process's maximum
// resident set size for each (ru_maxrss, read by test/maxrss), and the
// server's peak after both (VmHWM, no target).
func BenchmarkFastPathMemory(b *testing.B) {
	e := newFastPathEnv(b)
	up := e.startUp(b)
	var rss100k, rss1m int64
	for b.Loop() {
		rss100k = max(rss100k, followRSS(b, e, "seq", 100000))
		rss1m = max(rss1m, followRSS(b, e, "seq1m", 1000000))
	}
	b.ReportMetric(mib(rss100k), "MiB-maxrss-100k")
	b.ReportMetric(mib(rss1m), "MiB-maxrss-1M")
	hwm, err := peakRSS(up.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(mib(hwm), "MiB-hwm-up")
	b.ReportMetric(0, "ns/op")
	b.Logf("memory of deployer run following 1,000,000 lines: %.1f MiB max RSS (100,000 lines: %.1f MiB; the up serving them: %.1f MiB) (target ≤ 64 MiB whatever the count): %s",
		mib(rss1m), mib(rss100k), mib(hwm), met(rss1m <= maxRSS))
	if rss1m > maxRSS {
		b.Errorf("deployer run following 1,000,000 lines reached %.1f MiB of RSS, over the 64 MiB target", mib(rss1m))
	}
}

// followRSS runs script (printing n lines) with "deployer run", checks
// that n lines came out, and returns the run's maximum RSS in bytes, as
// maxrssBin reads it off its child (the test process cannot: see
// test/maxrss).
func followRSS(b *testing.B, e *env, script string, n int) int64 {
	b.Helper()
	c := e.cmd(context.Background(), "run", "--", "bench", script)
	gauge := filepath.Join(b.TempDir(), "maxrss")
	c.Path, c.Args = maxrssBin, append([]string{maxrssBin, "-o", gauge}, c.Args...)
	var lines lineCounter
	c.Stdout = &lines
	timed(b, c)
	if int(lines) != n {
		b.Fatalf("deployer run of %s printed %d lines, want %d", script, lines, n)
	}
	kib, err := os.ReadFile(gauge)
	if err != nil {
		b.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(kib)), 10, 64)
	if err != nil {
		b.Fatalf("maxrss wrote %q: %v", kib, err)
	}
	return v << 10 // KiB on Linux
}

// lineCounter counts the lines written to it.
type lineCounter int

func (l *lineCounter) Write(p []byte) (int, error) {
	*l += lineCounter(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// peakRSS is the peak resident set size of a running process (VmHWM), in
// bytes.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// stopServers stops the detached servers of e's state directory
// (SIGTERM: idle, they stop at once) and waits until they are gone.
func stopServers(b *testing.B, e *env) {
	b.Helper()
	for _, pid := range serverPids(b, e) {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			b.Fatal(err)
		}
		waitGone(b, pid, 30*time.Second)
	}
}

// cpuSpent adds up the CPU time of deployer runs and of the up serving
// them.
type cpuSpent struct {
	runs                 int
	cli, up, supervisors time.Duration
	unknown              bool // no /proc: up's figures are missing
}

func (c *cpuSpent) add(run *os.ProcessState, before, after [2]time.Duration) {
	c.runs++
	c.cli += run.UserTime() + run.SystemTime()
	if before[0] < 0 || after[0] < 0 {
		c.unknown = true
		return
	}
	c.up += after[0] - before[0]
	c.supervisors += after[1] - before[1]
}

// report reports the mean CPU per run, in milliseconds.
func (c *cpuSpent) report(b *testing.B) {
	b.Helper()
	if c.runs == 0 {
		return
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(c.runs) }
	b.ReportMetric(per(c.cli), "cpu-ms-run")
	if c.unknown {
		b.Logf("CPU per run: deployer run %.0f ms (up's unknown: no /proc)", per(c.cli))
		return
	}
	b.ReportMetric(per(c.up), "cpu-ms-up")
	b.ReportMetric(per(c.supervisors), "cpu-ms-supervisors")
	b.Logf("CPU per run: deployer run %.0f ms, up %.0f ms, its task supervisors %.0f ms (a spare's start included)",
		per(c.cli), per(c.up), per(c.supervisors))
}

// procCPU returns the CPU time of process pid (user and system) and that
// of its children: those it has waited for, and those alive, with theirs
// (a supervisor up takes back for the next task lives on; a child that
// exits between two calls moves from the second sum to the first); -1s
// without /proc.
func procCPU(pid int) [2]time.Duration {
	unknown := [2]time.Duration{-1, -1}
	own, reaped, ok := statCPU(pid)
	if !ok {
		return unknown
	}
	children := reaped
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, path := range tasks {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the thread has gone
		}
		for _, child := range strings.Fields(string(data)) {
			c, err := strconv.Atoi(child)
			if err != nil {
				continue
			}
			if itsOwn, itsReaped, ok := statCPU(c); ok {
				children += itsOwn + itsReaped
			}
		}
	}
	return [2]time.Duration{own, children}
}

// statCPU returns the CPU time of process pid (user and system) and that
// of the children it has waited for, from /proc/PID/stat.
func statCPU(pid int) (own, reaped time.Duration, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The fields after the command's name, which is in parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return 0, 0, false
	}
	// utime, stime, cutime, cstime: fields 14-17, in clock ticks (100 a
	// second on Linux).
	var t [4]int64
	for j := range t {
		if t[j], err = strconv.ParseInt(f[11+j], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	const tick = 10 * time.Millisecond
	return time.Duration(t[0]+t[1]) * tick, time.Duration(t[2]+t[3]) * tick, true
}

// timed runs c to its end (stdout to /dev/null unless set) and returns
// its wall time, failing b with c's stderr if it fails.
func timed(b *testing.B, c *exec.Cmd) time.Duration {
	b.Helper()
	var errOut bytes.Buffer
	c.Stderr = &errOut
	start := time.Now()
	if err := c.Run(); err != nil {
		b.Fatalf("%s: %v; stderr:\n%s", strings.Join(c.Args, " "), err, errOut.String())
	}
	return time.Since(start)
}

// checkLines checks that the file at path holds n lines, the first and
// last as given.
func checkLines(path string, n int, first, last string) error {
	out, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	switch {
	case len(out) == 0 || out[len(out)-1] != '\n':
		return fmt.Errorf("%d bytes, not ending in a newline", len(out))
	case len(lines) != n:
		return fmt.Errorf("%d lines, want %d", len(lines), n)
	case lines[0] != first:
		return fmt.Errorf("first line %q, want %q", lines[0], first)
	case lines[n-1] != last:
		return fmt.Errorf("last line %q, want %q", lines[n-1], last)
	}
	return nil
}

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

// percentile is the nearest-rank p-th percentile of d.
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(p/100*float64(len(s))))-1)]
}

// ratio is the ratio of the medians of d and base.
func ratio(d, base []time.Duration) float64 {
	return float64(median(d)) / float64(median(base))
}

// msValue is a duration in milliseconds, printed as "12.3 ms".
type msValue struct{ f float64 }

func ms(d time.Duration) msValue { return msValue{float64(d) / float64(time.Millisecond)} }

func (m msValue) String() string { return strconv.FormatFloat(m.f, 'f', 1, 64) + " ms" }

// reportMs reports the median of d in milliseconds as unit.
func reportMs(b *testing.B, unit string, d []time.Duration) {
	b.ReportMetric(ms(median(d)).f, unit)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
