package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/iamcheck"
	"github.com/deployerhq/deployer/schemas"
)

// tfBase begins both Terraform roots of these tests (tfRoot and
// tfUpgradeRoot): the AWS provider with every endpoint at the emulator
// (%[1]q), the CI role (%[2]sci) that the ci-caller module's policy goes
// on, and a VPC with one subnet for the worker's tasks. A root that
// appends to it keeps %[1] the endpoint and %[2] the prefix.
const tfBase = `
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "terraform"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  endpoints {
    cloudwatch     = %[1]q
    cloudwatchlogs = %[1]q
    dynamodb       = %[1]q
    ec2            = %[1]q
    ecs            = %[1]q
    iam            = %[1]q
    lambda         = %[1]q
    scheduler      = %[1]q
    sqs            = %[1]q
    sts            = %[1]q
  }
}

resource "aws_iam_role" "ci" {
  name = "%[2]sci"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { AWS = "arn:aws:iam::123456789012:root" } }]
  })
}

resource "aws_vpc" "v" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id     = aws_vpc.v.id
  cidr_block = "10.0.1.0/24"
}

`

// tfRoot is a whole deployment as a user writes it — the deployer module
// with its Lambdas, task definition and worker service, and a CI role with
// the ci-caller policy — with every AWS endpoint at the emulator.
const tfRoot = tfBase + `
resource "aws_security_group" "tasks" {
  vpc_id = aws_vpc.v.id
}

module "deployer" {
  source           = %[3]q
  prefix           = "%[2]s"
  lanes            = ["default", "ami-builds"]
  callers          = [aws_iam_role.ci]
  gatekeeper_zip   = %[5]q
  logshipper_zip   = %[6]q
  task_definitions = { demo = { image = "busybox:1.36" } }
  worker_image     = "deployer-worker:test"
  subnets          = [aws_subnet.a.id]
  security_groups  = [aws_security_group.tasks.id]
  alarm_actions    = ["arn:aws:sns:us-east-1:123456789012:oncall"]
  schedules = {
    nightly = { cron = "0 2 * * MON-FRI", time_zone = "Europe/Berlin", container = "demo", script = "plan" }
  }
}

module "ci" {
  source                 = %[4]q
  prefix                 = module.deployer.prefix
  request_queue_arn      = module.deployer.request_queue_arn
  log_group_arns         = module.deployer.log_group_arns
  lease_table_arn        = module.deployer.lease_table_arn
  dead_letter_queue_arns = module.deployer.dead_letter_queue_arns
  operator               = true
  role_names             = [aws_iam_role.ci.name]
}

output "environment" { value = module.deployer.environment }
output "principals" { value = module.deployer.principals }
output "alarms" { value = module.deployer.alarm_names }
output "scheduler_role" { value = module.deployer.scheduler_role_arn }
output "ci_role" { value = { arn = aws_iam_role.ci.arn, unique_id = aws_iam_role.ci.unique_id } }
output "policies" {
  value = {
    caller     = module.ci.policy_json
    worker     = module.deployer.worker_policy_json
    gatekeeper = module.deployer.gatekeeper_policy_json
    logshipper = module.deployer.logshipper_policy_json
  }
}
`

// TestTerraformModulesOnMoto applies terraform/modules to the emulator and
// runs jobs on what they made, with nothing provisioned by deployer
// itself: "deployer up" (no --provision) opens the queues, log groups and
// lease table by the names and environment the module gives, and callers
// get their jobs' output and exit codes. ECS tasks run on the fakes, whose
// output goes to the emulator's CloudWatch Logs as awslogs would write it.
// Then each component runs alone under its own identity — the gatekeeper
// Lambda's package as Lambda runs it, fed as its event source mapping
// feeds it, the worker daemon, and callers — and every AWS call each one
// makes must be allowed by the policy the modules give that identity, and
// be one of the rights internal/iamcheck lists for it. Before that, the
// static permission check "deployer doctor" runs (internal/iamcheck)
// passes on the roles the modules made, and reports a lock-out. Then
// terraform destroys it all. Needs terraform with the AWS provider
// (TF_CLI_CONFIG_FILE may name a mirror) and moto: .ci/run provides both.
func TestTerraformModulesOnMoto(t *testing.T) {
	ep := os.Getenv("DEPLOYER_TEST_AWS_ENDPOINT")
	if os.Getenv("DEPLOYER_TEST_TERRAFORM") == "" || ep == "" {
		t.Skip("set DEPLOYER_TEST_TERRAFORM=1 and DEPLOYER_TEST_AWS_ENDPOINT (moto) to apply the Terraform modules (.ci/run does)")
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("DEPLOYER_TEST_TERRAFORM is set but: %v", err)
	}
	prefix := fmt.Sprintf("tf%d-", time.Now().UnixNano()%1_000_000_000)
	config := strings.ReplaceAll(awsConfig, "arn:aws:iam::123456789012:role/ci-*", "arn:aws:iam::123456789012:role/"+prefix+"ci")
	config = strings.ReplaceAll(config, "task_definition: deployer", "task_definition: demo")
	e := newEnv(t, config, awsScripts)

	root := t.TempDir()
	zip := func(name, bin string, extra ...string) string {
		out := filepath.Join(root, name+".zip")
		args := append([]string{"run", "../internal/tools/lambdazip", "-o", out}, extra...)
		if b, err := exec.Command("go", append(args, bin)...).CombinedOutput(); err != nil {
			t.Fatalf("packaging %s: %v\n%s", name, err, b)
		}
		return out
	}
	modules, err := filepath.Abs("../terraform/modules")
	if err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(tfRoot, ep, prefix, filepath.Join(modules, "deployer"), filepath.Join(modules, "ci-caller"),
		zip("gatekeeper", gatekeeperBin, "-config", e.config), zip("logshipper", logshipperBin))
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	terraform := func(d time.Duration, args ...string) []byte {
		t.Helper()
		out, err := runTerraform(tf, root, d, args...)
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	terraform(2*time.Minute, "init", "-no-color")
	// Registered before anything uses the deployment, so it runs last.
	t.Cleanup(func() { terraform(5*time.Minute, "destroy", "-auto-approve", "-no-color") })
	terraform(5*time.Minute, "apply", "-auto-approve", "-no-color")

	var out struct {
		Environment struct{ Value map[string]string }
		Principals  struct{ Value map[string]string }
		CIRole      struct {
			Value struct {
				ARN      string `json:"arn"`
				UniqueID string `json:"unique_id"`
			}
		} `json:"ci_role"`
		Policies      struct{ Value map[string]string }
		Alarms        struct{ Value []string }
		SchedulerRole struct{ Value string } `json:"scheduler_role"`
	}
	if err := json.Unmarshal(terraform(time.Minute, "output", "-json"), &out); err != nil {
		t.Fatal(err)
	}
	role := out.CIRole.Value
	if len(out.Principals.Value) != 2 || out.Principals.Value[role.UniqueID] != role.ARN || !slices.Contains(slices.Collect(maps.Values(out.Principals.Value)), out.SchedulerRole.Value) {
		t.Fatalf("principals %v, want the CI role's unique id → ARN (%s → %s) and the scheduler role's (%s)",
			out.Principals.Value, role.UniqueID, role.ARN, out.SchedulerRole.Value)
	}
	checkScheduleOnMoto(t, ep, prefix+"nightly", out.SchedulerRole.Value)
	if len(out.Alarms.Value) != 4 {
		t.Fatalf("alarms %v, want the four of alarms.tf", out.Alarms.Value)
	}
	if got := out.Environment.Value["DEPLOYER_PREFIX"]; got != prefix {
		t.Fatalf("environment %v, want DEPLOYER_PREFIX=%s", out.Environment.Value, prefix)
	}

	disableEventSourceMappings(t, awstest.Config(t, ep, nil), fmt.Sprintf("arn:aws:sqs:%s:%s:%srequests", iamRegion, iamAccount, prefix))
	fakes := launchAWSFakes(t, e.scripts, "-task-definitions", "demo",
		"-task-log-group", out.Environment.Value["DEPLOYER_TASK_LOG_GROUP"], "-task-logs-endpoint", ep)
	e.extraEnv = append(e.extraEnv, awsEnv(ep)...)
	e.extraEnv = append(e.extraEnv, "AWS_ENDPOINT_URL_ECS="+fakes.url, "AWS_ACCESS_KEY_ID=ci")
	for k, v := range out.Environment.Value {
		e.extraEnv = append(e.extraEnv, k+"="+v)
	}
	// moto reports one SenderId for every caller (AWS reports the role's
	// unique id, as the module maps it): map what moto says to the role.
	sender := motoSenderID(t, e, prefix)
	e.extraEnv = append(e.extraEnv, fmt.Sprintf(`DEPLOYER_PRINCIPALS={%q: %q}`, sender, role.ARN))

	up := e.start("up", "--verbose")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)
	if r := e.run("run", "--", "infra", "hello", "terraform"); r.code != 0 || !strings.Contains(r.stdout, "hello terraform\nto stderr\n") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("run", "--", "infra", "fail"); r.code != 42 || !strings.Contains(r.stdout, "failing on purpose") {
		t.Fatalf("run fail: exit %d, want 42\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("dlq", "list"); r.code != 0 || !strings.Contains(r.stdout, "fail") {
		t.Fatalf("dlq list: exit %d, want the failed job\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	policies := map[string]iamcheck.Policy{}
	for who, doc := range out.Policies.Value {
		policies[who] = parsePolicy(t, doc)
	}
	opts, err := awsbackend.FromEnv(func(k string) string { return out.Environment.Value[k] })
	if err != nil {
		t.Fatal(err)
	}
	d := iamcheck.Deployment{Options: opts, Account: "123456789012"}
	checkModulePermissions(t, ep, d, role.ARN)
	runUnderPolicies(t, e, ep, fakes.url, root, policies, d)
}

// checkModulePermissions runs the static permission check "deployer
// doctor" runs on the roles the modules made, read back over the IAM API:
// the gatekeeper's, worker's and logshipper's roles and the CI role with
// the ci-caller policy (operator rights included) hold every right,
// with no finding. Then a Deny added to the gatekeeper's role, which
// takes its right to forward run orders — the lock-out the module
// refuses — is reported as exactly that.
func checkModulePermissions(t *testing.T, endpoint string, d iamcheck.Deployment, callerARN string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := awstest.Config(t, endpoint, nil)
	c, err := iamcheck.New(cfg, iamcheck.Options{Deployment: d, Caller: callerARN, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("the modules' policies, checked as doctor checks them: %s", f)
	}
	if t.Failed() {
		return
	}

	prefix := d.Options.Prefix
	lanes := "arn:aws:sqs:us-east-1:123456789012:" + prefix + "runs-lane-*"
	deny := iamcheck.Policy{Statements: []iamcheck.Statement{{Sid: "LockOut", Effect: iamcheck.Deny,
		Actions: []string{"sqs:SendMessage"}, Resources: []string{lanes}}}}
	client := iam.NewFromConfig(cfg)
	if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(prefix + "gatekeeper"),
		PolicyName: aws.String("lock-out"), PolicyDocument: aws.String(deny.String())}); err != nil {
		t.Fatal(err)
	}
	// Removed at once: terraform destroy cannot delete a role with a
	// policy it does not know.
	defer func() {
		if _, err := client.DeleteRolePolicy(context.WithoutCancel(ctx), &iam.DeleteRolePolicyInput{
			RoleName: aws.String(prefix + "gatekeeper"), PolicyName: aws.String("lock-out")}); err != nil {
			t.Errorf("removing the lock-out policy: %v", err)
		}
	}()
	findings, err = c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Principal != iamcheck.Gatekeeper || findings[0].Action != "sqs:SendMessage" ||
		findings[0].Resource != lanes || !findings[0].Failed() {
		t.Fatalf("with the gatekeeper denied sqs:SendMessage on the lanes: findings %v, want exactly that one", findings)
	}
	t.Logf("the lock-out, as doctor reports it: %s", findings[0])
}

// runTerraform runs terraform (the binary tf) in dir with args, offline
// and non-interactive (TF_CLI_CONFIG_FILE, from the caller's environment,
// may name a provider mirror), and returns its combined output.
func runTerraform(tf, dir string, d time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := exec.CommandContext(ctx, tf, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	return c.CombinedOutput()
}

// runUnderPolicies runs the gatekeeper and logshipper packages (in dist,
// as zips), a worker and callers as separate processes, each signing with
// its own access key (the name of its policy), through recorders in front
// of the emulator and the ECS fakes, and checks every call each made
// against its policy, and against the rights iamcheck.Required lists for
// it (what "deployer doctor" checks).
func runUnderPolicies(t *testing.T, e *env, motoURL, ecsURL, dist string, policies map[string]iamcheck.Policy, d iamcheck.Deployment) {
	moto, ecs := startCallRecorder(t, motoURL), startCallRecorder(t, ecsURL)
	e.extraEnv = append(e.extraEnv, "AWS_ENDPOINT_URL="+moto.url, "AWS_ENDPOINT_URL_ECS="+ecs.url)
	as := func(key string, c *exec.Cmd, stderr *bytes.Buffer, env ...string) {
		c.Env = append(append(append(os.Environ(), e.extraEnv...), "AWS_ACCESS_KEY_ID="+key, "DEPLOYER_CONFIG="), env...)
		c.Stderr = stderr
		c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
		c.WaitDelay = 30 * time.Second
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()

	// A Lambda's environment: the emulator hands its own to the function.
	lambdaEnv := func(key string) []string {
		return append(append(os.Environ(), e.extraEnv...), "AWS_ACCESS_KEY_ID="+key, "DEPLOYER_CONFIG=")
	}
	var workerErr bytes.Buffer
	worker := exec.CommandContext(ctx, workerBin, "--poll", "500ms")
	as("worker", worker, &workerErr)
	wg.Add(1)
	go func() { defer wg.Done(); _ = worker.Wait() }()

	// The gatekeeper's package, unpacked as Lambda unpacks it, its
	// allow-list found where the package put it, under the emulator.
	gk := startLambda(t, "gatekeeper", unzip(t, filepath.Join(dist, "gatekeeper.zip")), lambdaEnv("gatekeeper"))
	// The event source mapping, with the function's role.
	esm := sqsClientAt(t, moto.url, "gatekeeper")
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := eventSourceMapping(ctx, esm, e.envValue("DEPLOYER_PREFIX")+"requests", gk); err != nil && ctx.Err() == nil {
			t.Errorf("event source mapping: %v", err)
		}
	}()

	e.extraEnv = append(e.extraEnv, "AWS_ACCESS_KEY_ID=caller")
	r := e.run("run", "--", "infra", "hello", "least", "privilege")
	if r.code != 0 || !strings.Contains(r.stdout, "hello least\nhello privilege\n") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s\ngatekeeper:\n%s\nworker:\n%s", r.code, r.stdout, r.stderr, gk.output(), workerErr.String())
	}
	id := jobSubmitted.FindStringSubmatch(r.stderr)
	if id == nil {
		t.Fatalf("run printed no job id:\n%s", r.stderr)
	}
	if r := e.run("run", "--", "infra", "fail"); r.code != 42 {
		t.Fatalf("run fail: exit %d, want 42\nstderr:\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"status", id[1]}, {"logs", id[1]}, {"jobs"}, {"dlq", "list"}, {"describe"}} {
		if r := e.run(args...); r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", args[0], r.code, r.stdout, r.stderr)
		}
	}

	// The logshipper's package, handed a subscription delivery of a task
	// that ran, as CloudWatch Logs would hand it.
	r = e.run("run", "--no-wait", "--", "infra", "hello", "shipped")
	if r.code != 0 {
		t.Fatalf("run --no-wait: exit %d\n%s", r.code, r.stderr)
	}
	jobID, prefix := strings.TrimSpace(r.stdout), e.envValue("DEPLOYER_PREFIX")
	reader := sqsClientAt(t, motoURL, "test") // the test's own reads are not checked
	var taskID string
	readStream(t, reader, prefix, jobID, func(ev schemas.JobEvent) bool {
		if ev.TaskID != "" {
			taskID = ev.TaskID
		}
		return ev.Type.Terminal()
	})
	shipper := startLambda(t, "logshipper", unzip(t, filepath.Join(dist, "logshipper.zip")), lambdaEnv("logshipper"))
	line := events.CloudwatchLogsLogEvent{ID: cloudWatchEventID(time.Now().UnixMilli(), 1), Timestamp: time.Now().UnixMilli(), Message: "shipped line"}
	if _, err := shipper.invoke(ctx, subscriptionEvent(dataMessage("/deployer-tasks", "deployer/deployer/"+taskID, line))); err != nil {
		t.Fatalf("the logshipper failed: %v\n%s", err, shipper.output())
	}
	readStream(t, reader, prefix, jobID, func(ev schemas.JobEvent) bool {
		return ev.Type == schemas.EventLog && ev.Source == "logshipper" && len(ev.Lines) == 1 && ev.Lines[0].Text == "shipped line"
	})
	stop()
	wg.Wait()

	calls, bad := moto.recorded()
	ecsCalls, ecsBad := ecs.recorded()
	for _, b := range append(bad, ecsBad...) {
		t.Errorf("unreadable call: %s", b)
	}
	checkCallsAllowed(t, append(calls, ecsCalls...), policies)
	checkCallsRequired(t, append(calls, ecsCalls...), d)
}

// motoSenderID sends a message to a queue of the prefix's and returns the
// SenderId the emulator recorded, without its session part.
func motoSenderID(t *testing.T, e *env, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := e.sqsClient(t)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "sender-probe")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = client.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	}()
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("probe")}); err != nil {
		t.Fatal(err)
	}
	m, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameSenderId}})
	if err != nil || len(m.Messages) != 1 {
		t.Fatalf("receiving the probe: %v, %d messages", err, len(m.Messages))
	}
	id, _, _ := strings.Cut(m.Messages[0].Attributes[string(sqstypes.MessageSystemAttributeNameSenderId)], ":")
	if id == "" {
		t.Fatal("the emulator recorded no SenderId")
	}
	return id
}

// checkScheduleOnMoto reads the EventBridge Scheduler schedule the module
// made back with the AWS CLI: its cron in EventBridge's 6-field form, its
// zone, its target (the request queue, as the scheduler role) and the
// schedule_request/v1 body naming it.
func checkScheduleOnMoto(t *testing.T, endpoint, name, roleARN string) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Log("the AWS CLI is not installed: the schedule was created but not read back")
		return
	}
	cmd := exec.Command("aws", "scheduler", "get-schedule", "--name", name, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=terraform", "AWS_SECRET_ACCESS_KEY=test", "AWS_CONFIG_FILE=/dev/null")
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("aws scheduler get-schedule %s: %v\n%s", name, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		ScheduleExpression         string
		ScheduleExpressionTimezone string
		State                      string
		Target                     struct{ Arn, RoleArn, Input string }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ScheduleExpression != "cron(0 2 ? * MON-FRI *)" || got.ScheduleExpressionTimezone != "Europe/Berlin" || got.State != "ENABLED" ||
		!strings.HasSuffix(got.Target.Arn, ":"+strings.TrimSuffix(name, "nightly")+"requests") || got.Target.RoleArn != roleARN {
		t.Errorf("schedule %s = %+v", name, got)
	}
	req, err := schemas.DecodeScheduleRequest([]byte(got.Target.Input))
	if err != nil || req.Schedule != "nightly" {
		t.Errorf("schedule %s sends %q (%v), want a schedule_request/v1 naming nightly", name, got.Target.Input, err)
	}
}
