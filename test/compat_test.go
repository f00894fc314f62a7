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
	"sync"
	"syscall"
	"testing"
	"time"
)

// compatConfig allow-lists the ECS deploy runner's standard containers
// and scripts with the options its documentation and upgrade guide use.
const compatConfig = `
containers:
  terraform-planner:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    timeout: 5m
    max_task_cpu: 4096
    max_task_memory: 8192
    script_config:
      infrastructure-deploy-script:
        allowed_options: [--ref, --binary, --command, --deploy-path]
  docker-image-builder:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    timeout: 5m
    script_config:
      build-docker-image:
        allowed_options: [--repo, --ref, --context-path, --docker-image-tag, --build-arg]
`

var compatScripts = map[string]string{
	"infrastructure-deploy-script": "#!/bin/sh\necho \"deploy-script $*\"\n",
	"build-docker-image":           "#!/bin/sh\necho \"build-docker-image $*\"\n",
}

var (
	infraDeployerOnce sync.Once
	infraDeployerBin  string
	infraDeployerErr  error
)

// infrastructureDeployer builds cmd/infrastructure-deployer once, beside
// what TestMain built.
func infrastructureDeployer(t *testing.T) string {
	t.Helper()
	infraDeployerOnce.Do(func() {
		bin := filepath.Join(buildDir, "infrastructure-deployer")
		out, err := exec.Command("go", "build", "-o", bin, "../cmd/infrastructure-deployer").CombinedOutput()
		if err != nil {
			infraDeployerErr = errors.New(string(out))
			return
		}
		infraDeployerBin = bin
	})
	if infraDeployerErr != nil {
		t.Fatalf("building infrastructure-deployer: %v", infraDeployerErr)
	}
	return infraDeployerBin
}

// runVerbatim runs line, a command line without quotes, as a CI script
// would: the program and its arguments exactly as written, with the
// setup's AWS environment but neither a backend nor a region in it (the
// line's --aws-region must do), and no --config (the caller never needs
// the allow-list on AWS).
func (e *env) runVerbatim(t *testing.T, line string) result {
	t.Helper()
	words := strings.Fields(line)
	bin := map[string]string{"infrastructure-deployer": infrastructureDeployer(t), "deployer": deployerBin}[words[0]]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, words[1:]...)
	c.Env = append(append(os.Environ(), e.extraEnv...),
		"DEPLOYER_CONFIG=", "DEPLOYER_STATE_DIR="+e.state, "DEPLOYER_BACKEND=", "AWS_REGION=", "AWS_DEFAULT_REGION=", "DEPLOYER_AWS_REGION=")
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGQUIT) }
	c.WaitDelay = 10 * time.Second
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", line, err, r.stdout, r.stderr)
	}
	return r
}

// TestAWSInfrastructureDeployerVerbatim runs the ECS deploy runner's
// command lines, verbatim, against a deployment served by "deployer up
// --provision" on the AWS fakes: infrastructure-deployer, and deployer
// with the same arguments.
func TestAWSInfrastructureDeployerVerbatim(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compatConfig, compatScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision", "--verbose")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)

	r := e.runVerbatim(t, "infrastructure-deployer --aws-region us-east-1 --describe-containers")
	if r.code != 0 || !strings.Contains(r.stdout, "terraform-planner") || !strings.Contains(r.stdout, "build-docker-image") {
		t.Fatalf("--describe-containers: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct{ line, want string }{
		{
			"infrastructure-deployer --aws-region us-east-1 -- terraform-planner infrastructure-deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc",
			"deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc\n",
		},
		{
			"infrastructure-deployer --aws-region us-east-1 --max-wait-time 1h --task-cpu 2048 --task-memory 4096 -- terraform-planner infrastructure-deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc",
			"deploy-script --ref main --binary terragrunt --command plan --deploy-path live/prod/vpc\n",
		},
		{
			"infrastructure-deployer --aws-region us-east-1 -- docker-image-builder build-docker-image --repo https://github.com/gruntwork-io/terraform-aws-ci --ref v0.38.0 --context-path modules/ecs-deploy-runner/docker/kaniko --docker-image-tag 123456789012.dkr.ecr.us-east-1.amazonaws.com/kaniko:v0.38.0 --build-arg GITHUB_OAUTH_TOKEN",
			"build-docker-image --repo https://github.com/gruntwork-io/terraform-aws-ci --ref v0.38.0 --context-path modules/ecs-deploy-runner/docker/kaniko --docker-image-tag 123456789012.dkr.ecr.us-east-1.amazonaws.com/kaniko:v0.38.0 --build-arg GITHUB_OAUTH_TOKEN\n",
		},
		{
			// deployer itself takes the same line: --aws-region selects aws.
			"deployer --aws-region us-east-1 -- terraform-planner infrastructure-deploy-script --ref main --command plan",
			"deploy-script --ref main --command plan\n",
		},
	} {
		r := e.runVerbatim(t, c.line)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%s: exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", c.line, r.code, c.want, r.stdout, r.stderr)
		}
		// Status lines speak as the program that was run.
		program, _, _ := strings.Cut(c.line, " ")
		if !strings.Contains(r.stderr, "\n"+program+": job ") && !strings.HasPrefix(r.stderr, program+": job ") {
			t.Errorf("%s: no status line of %s:\n%s", c.line, program, r.stderr)
		}
		if program == "infrastructure-deployer" && regexp.MustCompile(`(?m)^deployer: `).MatchString(r.stderr) {
			t.Errorf("%s: a status line says deployer:\n%s", c.line, r.stderr)
		}
	}
	// An option the allow-list lacks is rejected as by the ECS deploy runner.
	r = e.runVerbatim(t, "infrastructure-deployer --aws-region us-east-1 -- terraform-planner infrastructure-deploy-script --command destroy --auto-approve")
	if r.code != 77 || !strings.Contains(r.stderr, "--auto-approve") {
		t.Errorf("an option not allowed: exit %d, want 77\nstderr:\n%s", r.code, r.stderr)
	}
	// --no-wait prints the job id; wait follows it.
	r = e.runVerbatim(t, "infrastructure-deployer --aws-region us-east-1 --no-wait -- terraform-planner infrastructure-deploy-script --ref main --command apply")
	lines := strings.Fields(r.stdout)
	if r.code != 0 || len(lines) == 0 {
		t.Fatalf("--no-wait: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.runVerbatim(t, "infrastructure-deployer --aws-region us-east-1 wait "+lines[len(lines)-1]); r.code != 0 || !strings.Contains(r.stdout, "deploy-script --ref main --command apply") {
		t.Errorf("wait: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
