package factory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/producer"
)

// TestHandOffRefusesWhatIsNotDeployerAWS: without a deployer-aws of this
// build beside it, a command that needs the aws backend fails with exit
// 69 saying what is missing and how to fix it, and runs nothing. (The
// hand-off itself, to a deployer-aws of the same build:
// test/TestCompatibilityVerbatim and TestHandOffToDeployerAWS.)
func TestHandOffRefusesWhatIsNotDeployerAWS(t *testing.T) {
	self := thisTestBinary(t)
	old := execve
	t.Cleanup(func() { execve = old })
	execve = func(string, []string, []string) error {
		t.Error("HandOff ran a binary that is not deployer-aws of this build")
		return nil
	}
	for _, c := range []struct {
		name string
		shim []byte // nil: none
		mode os.FileMode
		want string
	}{
		{"none", nil, 0, "no DIR/deployer-aws next to it"},
		{"not a Go binary", []byte("#!/bin/sh\nexit 0\n"), 0o755, "could not read Go build info from DIR/deployer-aws"},
		{"another program", self, 0o755, "DIR/deployer-aws is not of this build: its main package is"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.shim != nil {
				if err := os.WriteFile(filepath.Join(dir, AWSBinary), c.shim, c.mode); err != nil {
					t.Fatal(err)
				}
			}
			f := New()
			f.Executable = func() (string, error) { return filepath.Join(dir, "deployer"), nil }
			f.Args = []string{"--region", "eu-west-1", "status", "x"}
			err := f.HandOff("the aws backend")
			if Code(err) != producer.ExitUnavailable {
				t.Errorf("exit %d, want %d: %v", Code(err), producer.ExitUnavailable, err)
			}
			for _, want := range []string{strings.ReplaceAll(c.want, "DIR", dir), "the aws backend needs deployer-aws", "Install deployer-aws of the same release next to " + dir + "/deployer"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to say %q", err, want)
				}
			}
		})
	}
}

// onlyAWS is an aws backend with nothing beyond factory.AWS.
type onlyAWS struct{ AWS }

// TestAWSPart: the factory's aws backend as the part a command asks for,
// or an error naming both when it lacks that part.
func TestAWSPart(t *testing.T) {
	f := New()
	f.AWS = onlyAWS{}
	if a, err := AWSPart[AWS](f); err != nil || a != f.AWS {
		t.Errorf("AWSPart[AWS] = %v, %v; want the factory's", a, err)
	}
	type rollbacker interface{ Rollback() }
	if _, err := AWSPart[rollbacker](f); err == nil || !strings.Contains(err.Error(), "factory.onlyAWS (the aws backend) lacks factory.rollbacker") {
		t.Errorf("AWSPart of a part it lacks: %v", err)
	}
}

// metricser is a part a command of deployer asks the extras for.
type metricser interface{ Metrics() string }

type extras struct{}

func (extras) Metrics() string { return "metrics" }

// TestExtra: the factory's extras as the part a command asks for, or an
// error naming both when they lack it; without extras (deployer), the
// command line is handed, whole, to deployer-aws of this build beside
// the binary, before anything else, and what the command needs is named
// when it cannot be.
func TestExtra(t *testing.T) {
	f := New()
	f.Extras = extras{}
	if m, err := Extra[metricser](f, "metrics"); err != nil || m.Metrics() != "metrics" {
		t.Errorf("Extra[metricser] = %v, %v; want the factory's", m, err)
	}
	if _, err := Extra[interface{ Dashboard() }](f, "the dashboard"); err == nil || !strings.Contains(err.Error(), "factory.extras (the extras) lacks interface { Dashboard() }") {
		t.Errorf("Extra of a part they lack: %v", err)
	}

	self := thisTestBinary(t)
	dir := t.TempDir()
	// This test binary is "deployer-aws" of its own build when its main
	// package is the one companion.Find looks for: it is not, so the
	// hand-off is refused, naming what the command needed.
	if err := os.WriteFile(filepath.Join(dir, AWSBinary), self, 0o755); err != nil {
		t.Fatal(err)
	}
	old := execve
	t.Cleanup(func() { execve = old })
	execve = func(string, []string, []string) error {
		t.Error("Extra ran a binary that is not deployer-aws of this build")
		return nil
	}
	f = New()
	f.Executable = func() (string, error) { return filepath.Join(dir, "deployer"), nil }
	f.Args = []string{"up", "--metrics-addr", "127.0.0.1:0"}
	_, err := Extra[metricser](f, "--metrics-addr (Prometheus metrics)")
	for _, want := range []string{"--metrics-addr (Prometheus metrics) needs deployer-aws", "is not of this build"} {
		if Code(err) != producer.ExitUnavailable || !strings.Contains(err.Error(), want) {
			t.Errorf("Extra without extras: exit %d, %v; want exit %d saying %q", Code(err), err, producer.ExitUnavailable, want)
		}
	}
}

// thisTestBinary is this test binary's content: a Go program of this
// build whose main package is not one companion.Find looks for.
func thisTestBinary(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return self
}
