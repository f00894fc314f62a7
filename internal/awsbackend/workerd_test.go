package awsbackend_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/awsbackend"
)

func TestWorkerMainRefusesBadInvocations(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		says string
	}{
		{"unknown flag", []string{"--bogus"}, nil, 64, "bogus"},
		{"stray argument", []string{"extra"}, nil, 64, "unexpected arguments"},
		{"zero capacity", []string{"--capacity", "0"}, nil, 64, "--capacity"},
		{"short visibility", []string{"--visibility", "1s"}, nil, 64, "--visibility"},
		{"bad log level", []string{"--log-level", "loud"}, nil, 64, "--log-level"},
		{"malformed environment", nil, map[string]string{"DEPLOYER_PRINCIPALS": "{"}, 78, "DEPLOYER_PRINCIPALS"},
		{"bad prefix", []string{"--prefix", "no spaces please"}, map[string]string{"AWS_REGION": "us-east-1"}, 78, "prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := awsbackend.WorkerMain(tt.args, func(k string) string { return tt.env[k] }, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.says) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
		})
	}
}
