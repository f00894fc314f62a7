package main

import (
	"bytes"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/worker"
)

func TestRunRefusesBadInvocations(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		says string
	}{
		{"help", []string{"-h"}, nil, 0, "-drain-timeout"},
		{"unknown flag", []string{"--bogus"}, nil, 64, "bogus"},
		{"stray argument", []string{"extra"}, nil, 64, "unexpected arguments"},
		{"zero capacity", []string{"--capacity", "0"}, nil, 64, "--capacity"},
		{"short visibility", []string{"--visibility", "1s"}, nil, 64, "--visibility"},
		{"negative drain timeout", []string{"--drain-timeout", "-1s"}, nil, 64, "--drain-timeout"},
		{"bad log level", []string{"--log-level", "loud"}, nil, 64, "--log-level"},
		{"malformed environment", nil, map[string]string{"DEPLOYER_PRINCIPALS": "{"}, 78, "DEPLOYER_PRINCIPALS"},
		{"malformed environment before bad flags", []string{"--bogus"}, map[string]string{"DEPLOYER_ECS_PUBLIC_IP": "maybe"}, 78, "DEPLOYER_ECS_PUBLIC_IP"},
		{"bad prefix", []string{"--prefix", "no spaces please"}, map[string]string{"AWS_REGION": "us-east-1"}, 78, "prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tt.args, func(k string) string { return tt.env[k] }, io.Discard, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.says) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
		})
	}
}

// --version prints the version the image build stamps (-X main.version,
// images/worker/Dockerfile) on stdout and nothing else. Alone it reads no
// environment, so a container whose environment is broken still says
// what it runs; among other flags it wins over them.
func TestVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.5.0"
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"alone", []string{"--version"}, nil},
		{"single dash", []string{"-version"}, nil},
		{"alone, in a malformed environment", []string{"--version"}, map[string]string{"DEPLOYER_PRINCIPALS": "{"}},
		{"among flags", []string{"--capacity", "3", "--version"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != 0 || stdout.String() != "worker v1.5.0\n" || stderr.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, \"worker v1.5.0\\n\", nothing", code, stdout.String(), stderr.String())
			}
		})
	}
}

// The options the daemon serves: the environment, overridden by flags,
// and the worker's defaults from package worker.
func TestParseOptions(t *testing.T) {
	defaults := worker.Options{
		Capacity: worker.DefaultCapacity, Visibility: worker.DefaultVisibility,
		Poll: 5 * time.Second, DrainTimeout: 5 * time.Minute,
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want options
	}{
		{name: "nothing", want: options{Worker: defaults}},
		{
			name: "environment",
			env: map[string]string{
				"DEPLOYER_AWS_REGION": "eu-west-1", "DEPLOYER_PREFIX": "ci-", "DEPLOYER_ECS_CLUSTER": "c",
				"DEPLOYER_ECS_SUBNETS": "subnet-a, subnet-b", "DEPLOYER_ECS_SECURITY_GROUPS": "sg-1", "DEPLOYER_ECS_PUBLIC_IP": "true",
				"DEPLOYER_PRINCIPALS": `{"AROAX":"arn:aws:iam::1:role/ci"}`,
			},
			want: options{
				Backend: awsbackend.Options{
					Region: "eu-west-1", Prefix: "ci-", Cluster: "c", Subnets: []string{"subnet-a", "subnet-b"},
					SecurityGroups: []string{"sg-1"}, AssignPublicIP: true, Principals: map[string]string{"AROAX": "arn:aws:iam::1:role/ci"},
				},
				Worker: defaults,
			},
		},
		{
			name: "flags over the environment",
			args: []string{
				"--region", "us-east-2", "--prefix", "p-", "--cluster", "k", "--container-name", "app", "--launch-type", "EC2",
				"--subnets", "subnet-z,", "--security-groups", "", "--public-ip=false",
				"--capacity", "3", "--visibility", "10s", "--poll", "1s", "--drain-timeout", "0s", "--log-level", "debug",
				"--metrics-addr", "127.0.0.1:9464",
			},
			env: map[string]string{"DEPLOYER_AWS_REGION": "eu-west-1", "DEPLOYER_ECS_SECURITY_GROUPS": "sg-1", "DEPLOYER_ECS_PUBLIC_IP": "true"},
			want: options{
				Backend: awsbackend.Options{
					Region: "us-east-2", Prefix: "p-", Cluster: "k", ContainerName: "app", LaunchType: "EC2",
					Subnets: []string{"subnet-z"},
				},
				Worker:      worker.Options{Capacity: 3, Visibility: 10 * time.Second, Poll: time.Second},
				Level:       slog.LevelDebug,
				MetricsAddr: "127.0.0.1:9464",
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, code, ok := parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard, &stderr)
			if !ok {
				t.Fatalf("parse: exit %d; stderr:\n%s", code, stderr.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("options\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
