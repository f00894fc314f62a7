package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/cli/describe"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/run"
	"github.com/deployerhq/deployer/producer"
)

// parsed is what a command line parsed to, captured through the seams
// instead of run.
type parsed struct {
	code     int
	stderr   string
	run      *run.Options
	describe *describe.Options
	backend  string // the backend the factory resolves to then
	region   string
}

// parse runs args as mode's command line with the run and describe
// actions replaced, in an environment of env (name → value) plus a
// state directory.
func parse(t *testing.T, mode Mode, env map[string]string, args []string) parsed {
	t.Helper()
	f, _, errOut := newFactory(t)
	getenv := f.Getenv
	f.Getenv = func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	var p parsed
	resolve := func() {
		var err error
		if p.backend, err = f.ResolveBackend(); err != nil {
			t.Errorf("%v: resolving the backend: %v", args, err)
		}
		p.region = f.Region
	}
	root := newCmdRoot(f, mode, seams{
		run: func(_ context.Context, o *run.Options) error {
			p.run = o
			resolve()
			return nil
		},
		describe: func(_ context.Context, o *describe.Options) error {
			p.describe = o
			resolve()
			return nil
		},
	})
	p.code = execute(context.Background(), f, root, args)
	p.stderr = errOut.String()
	return p
}

// words splits a command line without quotes, dropping the program name.
func words(line string) []string { return strings.Fields(line)[1:] }

// The ECS deploy runner's command lines, from its documentation and
// upgrade guide, parse verbatim: the aws backend in the given region,
// run's flags before "--", and everything after SCRIPT the script's.
func TestECSDeployRunnerCommandLinesParseVerbatim(t *testing.T) {
	cases := []struct {
		line      string
		container string
		script    string
		args      []string
		region    string
		maxWait   time.Duration
		cpu, mem  int
		noWait    bool
	}{
		{
			line:      "infrastructure-deployer --aws-region us-west-2 -- docker-image-builder build-docker-image --repo https://github.com/gruntwork-io/terraform-aws-ci --ref v0.38.0 --context-path modules/ecs-deploy-runner/docker/deploy-runner --docker-image-tag 123456789012.dkr.ecr.us-west-2.amazonaws.com/ecs-deploy-runner:v0.38.0 --build-arg GITHUB_OAUTH_TOKEN",
			container: "docker-image-builder", script: "build-docker-image",
			args:   []string{"--repo", "https://github.com/gruntwork-io/terraform-aws-ci", "--ref", "v0.38.0", "--context-path", "modules/ecs-deploy-runner/docker/deploy-runner", "--docker-image-tag", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ecs-deploy-runner:v0.38.0", "--build-arg", "GITHUB_OAUTH_TOKEN"},
			region: "us-west-2", maxWait: producer.DefaultMaxWait,
		},
		{
			line:      "infrastructure-deployer --aws-region us-west-2 -- docker-image-builder build-docker-image --repo https://github.com/gruntwork-io/terraform-aws-ci --ref v0.38.0 --context-path modules/ecs-deploy-runner/docker/kaniko --docker-image-tag 123456789012.dkr.ecr.us-west-2.amazonaws.com/kaniko:v0.38.0 --build-arg GITHUB_OAUTH_TOKEN",
			container: "docker-image-builder", script: "build-docker-image",
			args:   []string{"--repo", "https://github.com/gruntwork-io/terraform-aws-ci", "--ref", "v0.38.0", "--context-path", "modules/ecs-deploy-runner/docker/kaniko", "--docker-image-tag", "123456789012.dkr.ecr.us-west-2.amazonaws.com/kaniko:v0.38.0", "--build-arg", "GITHUB_OAUTH_TOKEN"},
			region: "us-west-2", maxWait: producer.DefaultMaxWait,
		},
		{
			line:      "infrastructure-deployer --aws-region us-east-1 --max-wait-time 1h --task-cpu 2048 --task-memory 4096 -- terraform-planner infrastructure-deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc",
			container: "terraform-planner", script: "infrastructure-deploy-script",
			args:   []string{"--ref", "main", "--binary", "terragrunt", "--command", "plan", "--deploy-path", "live/prod/vpc"},
			region: "us-east-1", maxWait: time.Hour, cpu: 2048, mem: 4096,
		},
		{
			line:      "infrastructure-deployer --aws-region us-east-1 --no-wait -- terraform-applier infrastructure-deploy-script --ref main --binary terragrunt --command apply --deploy-path live/prod/vpc",
			container: "terraform-applier", script: "infrastructure-deploy-script",
			args:   []string{"--ref", "main", "--binary", "terragrunt", "--command", "apply", "--deploy-path", "live/prod/vpc"},
			region: "us-east-1", maxWait: producer.DefaultMaxWait, noWait: true,
		},
		{
			// Run's flags after SCRIPT are the script's, not run's.
			line:      "infrastructure-deployer --aws-region eu-west-1 -- terraform-planner infrastructure-deploy-script --max-wait-time 5m --no-wait",
			container: "terraform-planner", script: "infrastructure-deploy-script",
			args:   []string{"--max-wait-time", "5m", "--no-wait"},
			region: "eu-west-1", maxWait: producer.DefaultMaxWait,
		},
	}
	for _, c := range cases {
		// The same line works as infrastructure-deployer's and, with
		// no --backend, as deployer's.
		for _, mode := range []Mode{InfrastructureDeployer, Deployer} {
			args := words(c.line)
			p := parse(t, mode, nil, args)
			name := mode.name() + " " + strings.Join(args, " ")
			if p.code != 0 || p.run == nil {
				t.Errorf("%s: exit %d, run called: %v; stderr:\n%s", name, p.code, p.run != nil, p.stderr)
				continue
			}
			o := p.run
			if o.Container != c.container || o.Script != c.script || !slices.Equal(o.Args, c.args) {
				t.Errorf("%s: parsed %q %q %q, want %q %q %q", name, o.Container, o.Script, o.Args, c.container, c.script, c.args)
			}
			if o.MaxWait != c.maxWait || o.TaskCPU != c.cpu || o.TaskMemory != c.mem || o.NoWait != c.noWait {
				t.Errorf("%s: max wait %v, cpu %d, memory %d, no-wait %v; want %v, %d, %d, %v",
					name, o.MaxWait, o.TaskCPU, o.TaskMemory, o.NoWait, c.maxWait, c.cpu, c.mem, c.noWait)
			}
			if p.backend != factory.BackendAWS || p.region != c.region {
				t.Errorf("%s: backend %q in %q, want aws in %q", name, p.backend, p.region, c.region)
			}
		}
	}
}

func TestDescribeContainersParsesVerbatim(t *testing.T) {
	for _, c := range []struct{ line, region string }{
		{"infrastructure-deployer --aws-region us-east-1 --describe-containers", "us-east-1"},
		{"infrastructure-deployer --describe-containers --aws-region us-west-2", "us-west-2"},
		{"deployer --aws-region us-east-1 --describe-containers", "us-east-1"},
		{"deployer --region eu-west-1 describe", "eu-west-1"},
	} {
		mode := Deployer
		if strings.HasPrefix(c.line, "infrastructure-deployer ") {
			mode = InfrastructureDeployer
		}
		p := parse(t, mode, nil, words(c.line))
		if p.code != 0 || p.describe == nil || p.run != nil {
			t.Errorf("%s: exit %d, describe called: %v, run called: %v; stderr:\n%s", c.line, p.code, p.describe != nil, p.run != nil, p.stderr)
			continue
		}
		if p.backend != factory.BackendAWS || p.region != c.region {
			t.Errorf("%s: backend %q in %q, want aws in %q", c.line, p.backend, p.region, c.region)
		}
	}
	p := parse(t, InfrastructureDeployer, nil, []string{"--aws-region", "us-east-1", "--describe-containers", "--output", "json"})
	if p.code != 0 || p.describe == nil || p.describe.Output != "json" {
		t.Errorf("--describe-containers --output json: exit %d, describe %+v; stderr:\n%s", p.code, p.describe, p.stderr)
	}
}

// The run-less form leaves the subcommands alone: they are found before
// "--" and take their own flags, run's included.
func TestRunLessFormKeepsSubcommands(t *testing.T) {
	cases := []struct {
		args              []string
		container, script string
		noWait            bool
	}{
		{[]string{"run", "--no-wait", "--", "demo", "hello", "world"}, "demo", "hello", true},
		{[]string{"--no-wait", "run", "--", "demo", "hello"}, "demo", "hello", true},
		{[]string{"--no-wait", "--", "demo", "hello"}, "demo", "hello", true},
		{[]string{"--", "run", "hello"}, "run", "hello", false}, // after "--", a container named run
		{[]string{"--config", "x.yaml", "--", "describe", "plan"}, "describe", "plan", false},
	}
	for _, c := range cases {
		p := parse(t, Deployer, nil, c.args)
		if p.code != 0 || p.run == nil {
			t.Errorf("%v: exit %d; stderr:\n%s", c.args, p.code, p.stderr)
			continue
		}
		if p.run.Container != c.container || p.run.Script != c.script || p.run.NoWait != c.noWait {
			t.Errorf("%v: parsed %q %q no-wait %v", c.args, p.run.Container, p.run.Script, p.run.NoWait)
		}
		if p.backend != factory.BackendEmbedded {
			t.Errorf("%v: backend %q, want embedded (no --region)", c.args, p.backend)
		}
	}
	if p := parse(t, Deployer, nil, []string{"describe"}); p.code != 0 || p.describe == nil {
		t.Errorf("describe: exit %d; stderr:\n%s", p.code, p.stderr)
	}
}

// --region (--aws-region) without a backend selects aws; with the
// embedded one, by flag or environment, it is a usage error that says
// why, instead of being ignored while the job runs here.
// infrastructure-deployer is always on aws.
func TestRegionSelectsTheAWSBackend(t *testing.T) {
	ok := []struct {
		mode Mode
		env  map[string]string
		args []string
	}{
		{Deployer, nil, []string{"--region", "us-east-1", "--", "demo", "plan"}},
		{Deployer, nil, []string{"--aws-region", "us-east-1", "run", "--", "demo", "plan"}},
		{Deployer, nil, []string{"--backend", "aws", "--region", "us-east-1", "--", "demo", "plan"}},
		{Deployer, map[string]string{"DEPLOYER_BACKEND": "aws"}, []string{"--region", "us-east-1", "--", "demo", "plan"}},
		{Deployer, nil, []string{"--prefix", "ci-", "--", "demo", "plan"}}, // a resource prefix is the aws backend's too
		{InfrastructureDeployer, map[string]string{"DEPLOYER_BACKEND": "embedded"}, []string{"--aws-region", "us-east-1", "--", "demo", "plan"}},
		{InfrastructureDeployer, nil, []string{"--", "demo", "plan"}}, // the region from the SDK's environment
	}
	for _, c := range ok {
		p := parse(t, c.mode, c.env, c.args)
		if p.code != 0 || p.backend != factory.BackendAWS {
			t.Errorf("%s %v (env %v): exit %d, backend %q, want aws; stderr:\n%s", c.mode.name(), c.args, c.env, p.code, p.backend, p.stderr)
		}
	}
	const region = "--region (--aws-region) us-east-1"
	bad := []struct {
		env        map[string]string
		args       []string
		want, flag string
	}{
		{nil, []string{"--backend", "embedded", "--region", "us-east-1", "--", "demo", "plan"}, "but --backend selects the embedded backend", region},
		{map[string]string{"DEPLOYER_BACKEND": "embedded"}, []string{"--aws-region", "us-east-1", "--", "demo", "plan"}, "but $DEPLOYER_BACKEND selects the embedded backend", region},
		{nil, []string{"--backend", "embedded", "--aws-region", "us-east-1", "describe"}, "but --backend selects the embedded backend", region},
		{nil, []string{"--backend", "embedded", "--prefix", "ci-", "status", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"}, "but --backend selects the embedded backend", "--prefix ci-"},
	}
	for _, c := range bad {
		f, _, errOut := newFactory(t)
		getenv := f.Getenv
		f.Getenv = func(k string) string {
			if v, ok := c.env[k]; ok {
				return v
			}
			return getenv(k)
		}
		// Run for real: the error comes from opening the backend.
		code := Execute(context.Background(), f, c.args)
		msg := errOut.String()
		if code != 64 || !strings.Contains(msg, c.want) || !strings.Contains(msg, c.flag) || !strings.Contains(msg, "--backend aws") {
			t.Errorf("%v (env %v): exit %d, want 64 with %q; stderr:\n%s", c.args, c.env, code, c.want, msg)
		}
	}
}

// An empty CONTAINER or SCRIPT (an unset shell variable) is a usage
// error in the caller's words, before any request is built.
func TestEmptyContainerOrScriptIsAUsageError(t *testing.T) {
	cases := []struct {
		mode Mode
		args []string
		want string
	}{
		{Deployer, []string{"run", "--", "", "x"}, "deployer: the container name is empty: deployer run [flags] -- CONTAINER SCRIPT [ARGS...]\n"},
		{Deployer, []string{"run", "--", "demo", ""}, "deployer: the script name is empty: deployer run [flags] -- CONTAINER SCRIPT [ARGS...]\n"},
		{Deployer, []string{"run", "--", " ", ""}, "deployer: the container name and the script name are empty: "},
		{Deployer, []string{"--", "", "x"}, "deployer: the container name is empty: deployer [flags] -- CONTAINER SCRIPT [ARGS...]\n"},
		{Deployer, []string{"--no-wait", "--", "demo", ""}, "deployer: the script name is empty: "},
		{InfrastructureDeployer, []string{"--aws-region", "us-east-1", "--", "", "plan"}, "infrastructure-deployer: the container name is empty: infrastructure-deployer [flags] -- CONTAINER SCRIPT [ARGS...]\n"},
	}
	for _, c := range cases {
		p := parse(t, c.mode, nil, c.args)
		if p.code != 64 || p.run != nil || !strings.HasPrefix(p.stderr, c.want) {
			t.Errorf("%s %q: exit %d, run called: %v; stderr %q, want 64 and %q", c.mode.name(), c.args, p.code, p.run != nil, p.stderr, c.want)
		}
		if strings.Contains(p.stderr, "malformed") {
			t.Errorf("%q: stderr speaks of the message: %s", c.args, p.stderr)
		}
	}
}

// Run's flags, or "--" alone, without CONTAINER SCRIPT are usage errors.
func TestRunLessFormUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-wait-time", "1h"}, "--max-wait-time given without -- CONTAINER SCRIPT"},
		{[]string{"--"}, `a container and a script must follow "--"`},
		{[]string{"--", "demo"}, `a container and a script must follow "--"`},
		{[]string{"--describe-containers", "--", "demo", "plan"}, "--describe-containers takes no CONTAINER SCRIPT"},
		{[]string{"demo", "plan"}, `unknown command "demo"`},
		{[]string{"demo", "--", "plan"}, `unknown command "demo"`},
		{[]string{"--max-wait-time", "0s", "--", "demo", "plan"}, "--max-wait-time must be positive"},
	} {
		p := parse(t, Deployer, nil, c.args)
		if p.code != 64 || p.run != nil || !strings.Contains(p.stderr, c.want) {
			t.Errorf("%q: exit %d, run called: %v; stderr %q, want 64 and %q", c.args, p.code, p.run != nil, p.stderr, c.want)
		}
	}
}

// infrastructure-deployer has no --backend: it is AWS-only.
func TestInfrastructureDeployerHasNoBackendFlag(t *testing.T) {
	p := parse(t, InfrastructureDeployer, nil, []string{"--backend", "embedded", "--", "demo", "plan"})
	if p.code != 64 || !strings.Contains(p.stderr, "unknown flag: --backend") {
		t.Errorf("exit %d; stderr:\n%s", p.code, p.stderr)
	}
	var out bytes.Buffer
	f, _, _ := newFactory(t)
	f.IO.Out = &out
	if code := ExecuteAs(context.Background(), f, InfrastructureDeployer, []string{"--help"}); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"infrastructure-deployer [flags] -- CONTAINER SCRIPT [ARGS...]", "--aws-region", "--describe-containers", "--max-wait-time", "--task-cpu", "--task-memory", "--no-wait"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}
