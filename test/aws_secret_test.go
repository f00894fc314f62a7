package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/test/awsfake"
)

// What a local task's Secrets Manager secret goes through: the supervisor
// (deployer-supervisor, without the AWS SDK) has deployer-aws beside it
// read it (secretproc), and the script gets the value.

const awsSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/token-AbCdEf"

const awsSecretValue = "aws-s3cr3t-V4lue-77c1" //nolint:gosec // a test secret

const awsSecretConfig = `
containers:
  tasks:
    local: {scripts_dir: SCRIPTS}
    secrets: {TOKEN: "` + awsSecretARN + `:token::"}
    script_config:
      uses-secret: {allowed_options: []}
`

var awsSecretScripts = map[string]string{
	"uses-secret": "#!/bin/sh\nif [ \"$TOKEN\" = '" + awsSecretValue + "' ]; then echo 'token ok'; else echo 'token wrong'; exit 1; fi\n",
}

// secretsManager serves awsSecretARN and returns its endpoint.
func secretsManager(t *testing.T) string {
	t.Helper()
	var sm awsfake.Server
	sm.Add(awsfake.SecretsManager(map[string]string{awsSecretARN: `{"token":"` + awsSecretValue + `"}`}))
	return sm.Start(t)
}

func awsSecretEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, awsSecretConfig, awsSecretScripts)
	e.extraEnv = []string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + secretsManager(t),
		"AWS_ACCESS_KEY_ID=AKIDTESTTESTTESTTEST", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true",
	}
	return e
}

// TestLocalTaskReadsAWSSecretThroughDeployerAWS: the script gets the
// secret's value, though neither deployer nor deployer-supervisor links
// the AWS SDK; the value is in no output.
func TestLocalTaskReadsAWSSecretThroughDeployerAWS(t *testing.T) {
	t.Parallel()
	e := awsSecretEnv(t)
	r := e.run("run", "--", "tasks", "uses-secret")
	if r.code != 0 || r.stdout != "token ok\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, awsSecretValue) {
		t.Errorf("the secret's value is in the run's stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "started task") {
		t.Errorf("the run's stderr does not say the task started:\n%s", r.stderr)
	}
}

// TestLocalTaskWithAWSSecretWithoutDeployerAWS: deployer and
// deployer-supervisor installed without deployer-aws: a task that names
// an AWS secret does not start, and says what to install; its script
// never runs.
func TestLocalTaskWithAWSSecretWithoutDeployerAWS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"deployer", "deployer-supervisor"} {
		copyExecutable(t, filepath.Join(filepath.Dir(deployerBin), name), filepath.Join(dir, name))
	}
	e := awsSecretEnv(t)
	e.as = func(c *exec.Cmd) { c.Path, c.Args[0] = filepath.Join(dir, "deployer"), filepath.Join(dir, "deployer") }
	r := e.run("run", "--", "tasks", "uses-secret")
	out := r.stdout + r.stderr
	if r.code == 0 || strings.Contains(out, "token ok") || strings.Contains(out, "token wrong") {
		t.Fatalf("exit %d, want the task not started; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"DEPLOYER_SECRET_TOKEN names a Secrets Manager or SSM secret, which deployer-aws reads", "install deployer-aws of the same build next to " + filepath.Join(dir, "deployer-supervisor")} {
		if !strings.Contains(out, want) {
			t.Errorf("the run says nothing of %q; stdout:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	// The server it started said so when it started.
	log, err := os.ReadFile(filepath.Join(e.state, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "deployer: warning: the secrets of tasks name Secrets Manager or SSM"; !strings.Contains(string(log), want) {
		t.Errorf("serve.log does not say %q:\n%s", want, log)
	}
}
