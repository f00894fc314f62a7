package secretproc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/secretproc"
	"github.com/deployerhq/deployer/internal/task/secretref"
)

// helperEnv makes this test binary the helper: it serves one request
// with a fake that reads AWS, or misbehaves as the variable says.
const helperEnv = "SECRETPROC_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		if err := secretproc.Serve(context.Background(), os.Stdin, os.Stdout, &secret.Resolver{AWS: fake{}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "helper broke down")
		os.Exit(3)
	case "garble":
		fmt.Println("not json")
		os.Exit(0)
	}
}

// fake reads every secret as "value-of-" its id, except "missing".
type fake struct{}

func (fake) GetSecretValue(_ context.Context, ref secretref.Reference) (string, error) {
	if strings.Contains(ref.ID, "missing") {
		return "", fmt.Errorf("no such secret: %w", secret.ErrNotFound)
	}
	return `{"token":"value-of-` + ref.ID + `"}`, nil
}

func (fake) GetParameter(_ context.Context, ref secretref.Reference) (string, error) {
	return "value-of-" + ref.ID, nil
}

// helper is a Resolver.Helper running this binary in mode.
func helper(t *testing.T, mode string) func() ([]string, error) {
	t.Setenv(helperEnv, mode)
	return func() ([]string, error) { return []string{os.Args[0]}, nil }
}

const smARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/token-AbCdEf"

func TestResolvesAWSInTheHelperAndTheRestHere(t *testing.T) {
	t.Setenv("SECRETPROC_LOCAL", "local-value")
	r := &secretproc.Resolver{Helper: helper(t, "serve")}
	env, err := r.Environ(t.Context(), []string{
		"PATH=/bin",
		"DEPLOYER_SECRET_TOKEN=" + smARN + ":token::",
		"DEPLOYER_SECRET_PARAM=/ci/param",
		"DEPLOYER_SECRET_LOCAL=env:SECRETPROC_LOCAL",
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(env)
	want := []string{"LOCAL=local-value", "PARAM=value-of-/ci/param", "PATH=/bin", "TOKEN=value-of-" + smARN}
	if !slices.Equal(env, want) {
		t.Errorf("environ %q, want %q", env, want)
	}
}

func TestNoHelperWithoutAWSReferences(t *testing.T) {
	t.Setenv("SECRETPROC_LOCAL", "local-value")
	r := &secretproc.Resolver{Helper: func() ([]string, error) {
		t.Error("the helper was asked for, with no AWS reference")
		return nil, errors.New("no helper")
	}}
	env, err := r.Environ(t.Context(), []string{"DEPLOYER_SECRET_LOCAL=env:SECRETPROC_LOCAL", "HOME=/h"})
	if err != nil || !slices.Equal(env, []string{"HOME=/h", "LOCAL=local-value"}) {
		t.Errorf("Environ: %q, %v", env, err)
	}
}

// TestHelperErrors: every failure is an error that says what failed and
// holds no value.
func TestHelperErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		helper  func(t *testing.T) func() ([]string, error)
		environ []string
		want    []string
	}{
		{"no helper", func(*testing.T) func() ([]string, error) {
			return func() ([]string, error) { return nil, errors.New("no deployer-aws next to it") }
		}, []string{"DEPLOYER_SECRET_B=/p", "DEPLOYER_SECRET_A=" + smARN}, []string{
			"DEPLOYER_SECRET_A, DEPLOYER_SECRET_B name Secrets Manager or SSM secrets, which deployer-aws reads for this task: no deployer-aws next to it"}},
		{"one variable", func(*testing.T) func() ([]string, error) {
			return func() ([]string, error) { return nil, errors.New("none") }
		}, []string{"DEPLOYER_SECRET_A=" + smARN}, []string{"DEPLOYER_SECRET_A names a Secrets Manager or SSM secret"}},
		{"the secret is missing", func(t *testing.T) func() ([]string, error) { return helper(t, "serve") },
			[]string{"DEPLOYER_SECRET_A=" + smARN + "-missing"}, []string{"DEPLOYER_SECRET_A: secret " + smARN + "-missing: no such secret: not found"}},
		{"the helper crashes", func(t *testing.T) func() ([]string, error) { return helper(t, "crash") },
			[]string{"DEPLOYER_SECRET_A=" + smARN}, []string{"resolving the task's secrets with", "exit status 3", "it said: helper broke down"}},
		{"the helper answers garbage", func(t *testing.T) func() ([]string, error) { return helper(t, "garble") },
			[]string{"DEPLOYER_SECRET_A=" + smARN}, []string{"resolving the task's secrets with", "no reply"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &secretproc.Resolver{Helper: c.helper(t)}
			env, err := r.Environ(t.Context(), c.environ)
			if err == nil || env != nil {
				t.Fatalf("Environ: %q, %v; want an error", env, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "value-of-") {
				t.Errorf("error %q holds a value", err)
			}
		})
	}
}

func TestBesideRefusesWhatIsNotDeployerAWS(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "deployer-supervisor")
	if _, err := secretproc.Beside(exe)(); err == nil || !strings.Contains(err.Error(), "install deployer-aws of the same build next to "+exe) {
		t.Errorf("no deployer-aws: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deployer-aws"), []byte("#!/bin/sh\n"), 0o755); err != nil { //nolint:gosec // a fake binary
		t.Fatal(err)
	}
	if _, err := secretproc.Beside(exe)(); err == nil || !strings.Contains(err.Error(), "deployer-aws") {
		t.Errorf("a script for deployer-aws: %v", err)
	}
}

func TestServeRefusesABadRequest(t *testing.T) {
	var out bytes.Buffer
	if err := secretproc.Serve(t.Context(), strings.NewReader("{"), &out, &secret.Resolver{}); err == nil || out.Len() != 0 {
		t.Errorf("Serve of a truncated request: %v, wrote %q", err, out.String())
	}
	big := strings.NewReader(`{"environ":["` + strings.Repeat("x", 64<<20) + `"]}`)
	if err := secretproc.Serve(t.Context(), big, &out, &secret.Resolver{}); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("Serve of a request over the limit: %v", err)
	}
}
