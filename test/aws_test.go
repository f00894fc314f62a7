package test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// awsConfig allow-lists one container run as an ECS task definition; the
// fakes' ECS runs the task's script from the test's scripts directory.
const awsConfig = `
containers:
  infra:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    timeout: 5m
    script_config:
      hello:
        allow_positional_args: true
        allowed_options: []
      fail:
        allowed_options: []
`

var awsScripts = map[string]string{
	"hello": "#!/bin/sh\nfor a in \"$@\"; do echo \"hello $a\"; done\necho \"to stderr\" >&2\n",
	"fail":  "#!/bin/sh\necho 'failing on purpose'\nexit 42\n",
}

// startAWSFakes starts the AWS fakes' server on loopback and points the
// setup's commands at it, signing as a CI role the gatekeeper knows.
func startAWSFakes(t *testing.T, e *env) {
	t.Helper()
	startFaultyAWSFakes(t, e)
}

// awsEnv is the environment of commands run against the fakes at url:
// the aws backend, dummy credentials of a CI role the gatekeeper knows
// (DEPLOYER_PRINCIPALS), and nothing that reaches beyond loopback — no
// profile, no instance metadata service.
func awsEnv(url string) []string {
	return []string{
		"DEPLOYER_BACKEND=aws",
		"AWS_ENDPOINT_URL=" + url,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AROACIROLE",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_CA_BUNDLE=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		`DEPLOYER_PRINCIPALS={"AROACIROLE":"arn:aws:iam::123456789012:role/ci-deployer"}`,
	}
}

// TestAWSBackendEndToEnd runs the real binaries on --backend aws against
// HTTP-level AWS fakes: "deployer up --provision" serves the pipeline
// without Lambdas, and "deployer run" gets the task's output and exit code
// through SQS, ECS, CloudWatch Logs and DynamoDB as the SDK speaks them.
func TestAWSBackendEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision", "--verbose")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)

	r := e.run("describe")
	if r.code != 0 || !strings.Contains(r.stdout, "infra") || !strings.Contains(r.stdout, "hello") {
		t.Fatalf("describe: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("run", "--", "infra", "hello", "a", "b")
	if r.code != 0 || !strings.Contains(r.stdout, "hello a\nhello b\nto stderr\n") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("run", "--", "infra", "fail")
	if r.code != 42 || !strings.Contains(r.stdout, "failing on purpose") {
		t.Fatalf("run fail: exit %d, want 42\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = e.run("run", "--", "infra", "hello", "--destroy")
	if r.code != 77 || !strings.Contains(r.stderr, "--destroy") {
		t.Fatalf("run --destroy: exit %d, want 77\nstderr:\n%s", r.code, r.stderr)
	}
	// Status and logs after the fact come from the journal and the task log.
	id := jobSubmitted.FindStringSubmatch(e.run("run", "--", "infra", "hello", "again").stderr)
	if id == nil {
		t.Fatal("no job id printed")
	}
	if r := e.run("logs", id[1]); r.code != 0 || !strings.Contains(r.stdout, "hello again") {
		t.Fatalf("logs: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("status", id[1]); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "succeeded") {
		t.Fatalf("status: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// A deployment that is not there is named, with the way to fix it.
func TestAWSBackendMissingDeployment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	r := e.run("--prefix", "nothing-here-", "run", "--", "infra", "hello")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing-here-requests") || !strings.Contains(r.stderr, "prefix") {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}
