package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
)

// upgradeConfig is the allow-list packed into the gatekeeper of the
// upgrade test: the deployment's one container, its task definition the
// module's, run by the CI role (CALLER).
const upgradeConfig = `
containers:
  demo:
    task_definition: TASK_DEFINITION
    allowed_callers: [CALLER]
    script_config:
      hello: {allowed_options: []}
`

// upgradeFailingDoctorRollsBack is docs/upgrading.md's failed upgrade, on
// a deployment the Terraform module made: apply (a release whose
// gatekeeper lets CI run its container), doctor passes as CI; apply a
// release whose gatekeeper's allow-list lets CI run nothing, doctor fails
// with nothing_allowed (82); "deployer rollback", the documented command,
// moves the Lambda aliases back; doctor passes again. Then a right the
// gatekeeper's role loses (a Deny of sqs:SendMessage on the lanes) fails
// doctor with permission_missing (84), naming it.
//
// The pipeline runs as on AWS: the gatekeeper is whatever version the
// alias live points at, fed by the request queue as its event source
// mapping feeds it (followAlias), the worker daemon, and ECS tasks on the
// fakes running deployer-task, their logs in the emulator's CloudWatch
// Logs. apply applies a release (its name, its gatekeeper zip) and
// returns the module's outputs.
func upgradeFailingDoctorRollsBack(t *testing.T, endpoint, prefix string, apply func(release, zip string) upgradeOutputs) {
	taskDefinition := prefix + "demo"
	ciRole := "arn:aws:iam::123456789012:role/" + prefix + "ci"
	config := strings.NewReplacer("TASK_DEFINITION", taskDefinition, "CALLER", fmt.Sprintf("%q", ciRole)).Replace(upgradeConfig)
	e := newEnv(t, config, doctorScripts)
	nobody := filepath.Join(t.TempDir(), "nobody.yaml")
	if err := os.WriteFile(nobody, []byte(strings.Replace(config, ciRole, "arn:aws:iam::123456789012:role/someone-else", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	good, bad := packGatekeeperZip(t, e.config), packGatekeeperZip(t, nobody)

	out := apply("doctor-good", good)
	fakes := launchAWSFakes(t, e.scripts, "-task-definitions", taskDefinition, "-task-entrypoint", deployerTaskBin,
		"-task-log-group", out.TaskLogGroup, "-task-logs-endpoint", endpoint)
	e.extraEnv = append(e.extraEnv, awsEnv(endpoint)...)
	for k, v := range out.Environment {
		e.extraEnv = append(e.extraEnv, k+"="+v)
	}
	// moto reports one SenderId for every caller (AWS reports the role's
	// unique id, as the module maps it): map what moto says to the role.
	e.extraEnv = append(e.extraEnv, fmt.Sprintf(`DEPLOYER_PRINCIPALS={%q: %q}`, motoSenderID(t, e, prefix), out.CIRole))
	// The pipeline runs its tasks on the fakes' ECS; "deployer rollback"
	// changes the task definitions and the service where Terraform made
	// them, the emulator's.
	pipeline := append(append([]string{}, e.extraEnv...), "AWS_ENDPOINT_URL_ECS="+fakes.url)
	operator := e.extraEnv

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	worker := exec.CommandContext(ctx, workerBin, "--poll", "500ms")
	worker.Env = append(os.Environ(), pipeline...)
	var workerLog syncBuffer
	worker.Stderr = &workerLog
	worker.Cancel = func() error { return worker.Process.Signal(syscall.SIGTERM) }
	worker.WaitDelay = 30 * time.Second
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = worker.Wait() }()

	cfg := awstest.Config(t, endpoint, nil)
	gatekeeper := followAlias(t, lambda.NewFromConfig(cfg), out.Gatekeeper, "live",
		map[string]string{"doctor-good": unzip(t, good), "doctor-bad": unzip(t, bad)},
		append(append(os.Environ(), pipeline...), "DEPLOYER_CONFIG="))
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := eventSourceMapping(ctx, sqsClientAt(t, endpoint, "gatekeeper"), prefix+"requests", gatekeeper); err != nil && ctx.Err() == nil {
			t.Errorf("event source mapping: %v", err)
		}
	}()
	doctor := func(code int, want ...string) {
		t.Helper()
		r := e.runEnv(pipeline, "doctor", "--timeout", "90s")
		if r.code != code {
			t.Fatalf("doctor: exit %d, want %d\nstdout:\n%s\nstderr:\n%s\ngatekeeper:\n%s\nworker:\n%s",
				r.code, code, r.stdout, r.stderr, gatekeeper.output(), workerLog.String())
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("doctor (exit %d) does not say %q:\n%s", r.code, w, r.stdout)
			}
		}
		t.Logf("doctor, exit %d:\n%s", r.code, r.stdout)
	}

	doctor(0, "may run demo (hello)", "canary       ok    demo: deployer-task dev", "PASS")

	apply("doctor-bad", bad)
	doctor(82, "nothing_allowed")

	r := e.runEnv(operator, "rollback")
	if r.code != 0 || !strings.Contains(r.stdout, "lambda "+out.Gatekeeper+": moved alias live") || !strings.Contains(r.stdout, "release doctor-good") {
		t.Fatalf("rollback: exit %d, want 0 moving %s's alias back to release doctor-good\nstdout:\n%s\nstderr:\n%s",
			r.code, out.Gatekeeper, r.stdout, r.stderr)
	}
	t.Logf("rollback:\n%s", r.stdout)
	doctor(0, "may run demo (hello)", "canary       ok    demo: deployer-task dev", "PASS")

	// A right taken from the gatekeeper's role — its right to forward run
	// orders, the lock-out the module refuses at plan — is found by
	// reading the policies: the emulator enforces no IAM.
	client := iam.NewFromConfig(cfg)
	role, lanes := prefix+"gatekeeper", "arn:aws:sqs:us-east-1:123456789012:"+prefix+"runs-lane-*"
	deny := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sqs:SendMessage","Resource":%q}]}`, lanes)
	if _, err := client.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String(role),
		PolicyName: aws.String("lock-out"), PolicyDocument: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// terraform destroy cannot delete a role with a policy it does
		// not know.
		if _, err := client.DeleteRolePolicy(context.Background(), &iam.DeleteRolePolicyInput{
			RoleName: aws.String(role), PolicyName: aws.String("lock-out")}); err != nil {
			t.Errorf("removing the lock-out policy: %v", err)
		}
	}()
	doctor(84, "permission_missing", "gatekeeper", "sqs:SendMessage")
}
