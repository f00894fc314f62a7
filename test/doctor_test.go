package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// "deployer doctor" against the built binaries: on the embedded backend,
// and on the AWS fakes (with DEPLOYER_TEST_AWS_ENDPOINT set, CI's moto
// serves SQS, CloudWatch Logs and DynamoDB and only ECS is the fakes').

// doctorConfig allow-lists two containers in two lanes for the embedded
// backend; CALLERS is replaced by their allowed callers.
const doctorConfig = `
lanes:
  amis: {concurrency: 1}
containers:
  infra:
    local: {scripts_dir: SCRIPTS}
    allowed_callers: CALLERS
    script_config:
      hello: {allowed_options: []}
  packer:
    local: {scripts_dir: SCRIPTS}
    lane: amis
    allowed_callers: CALLERS
    script_config:
      hello: {allowed_options: []}
`

var doctorScripts = map[string]string{"hello": "#!/bin/sh\necho hello\n"}

// doctorReport is what --output json prints.
type doctorReport struct {
	Backend  string `json:"backend"`
	Verdict  string `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	Cause    string `json:"cause"`
	Checks   []struct {
		Name     string `json:"name"`
		Subject  string `json:"subject"`
		Status   string `json:"status"`
		Cause    string `json:"cause"`
		ExitCode int    `json:"exit_code"`
		Message  string `json:"message"`
		Version  string `json:"version"`
		JobID    string `json:"job_id"`
	} `json:"checks"`
}

func decodeDoctor(t *testing.T, r result) doctorReport {
	t.Helper()
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor --output json: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep
}

// expectDoctor fails the test unless doctor exited code, its last line
// says so, and stdout holds every want.
func expectDoctor(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	ok := r.code == code && strings.Contains(last, fmt.Sprintf("exit %d", code))
	for _, w := range want {
		ok = ok && strings.Contains(r.stdout, w)
	}
	if !ok {
		t.Fatalf("doctor: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", r.code, code, want, r.stdout, r.stderr)
	}
}

func TestDoctorEmbeddedPasses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(doctorConfig, "CALLERS", `["*"]`), doctorScripts)
	// Nothing serves the state directory: doctor starts a server, as
	// every command does, and proves it serves.
	r := e.run("doctor")
	if r.code != 0 {
		// Where a canary stuck, for the report below.
		jobs := e.run("jobs", "--limit", "10")
		t.Logf("jobs:\n%s%s\nserve.log:\n%s", jobs.stdout, jobs.stderr, serveLog(e))
	}
	expectDoctor(t, r, 0, "no deployer up served it", "runs-lane-amis", "runs-lane-default", "may run infra (hello); packer (hello)",
		"infra: deployer-task ", "packer: deployer-task ", "PASS")
	rep := decodeDoctor(t, e.run("doctor", "--container", "packer", "--output", "json"))
	var canaries []string
	for _, c := range rep.Checks {
		if c.Name == "canary" && c.Status == "ok" && c.Version != "" {
			canaries = append(canaries, c.Subject)
		}
	}
	if rep.Verdict != "pass" || rep.ExitCode != 0 || strings.Join(canaries, ",") != "packer" {
		t.Fatalf("json report %+v", rep)
	}
	// Served now, by the server the first doctor started: the report
	// says which supervises its tasks.
	supervisors := "task supervisors: " + filepath.Join(buildDir, "deployer-supervisor")
	if reach := rep.Checks[0]; reach.Name != "reach" || !strings.Contains(reach.Message, "served by deployer up (pid ") ||
		!strings.Contains(reach.Message, supervisors) {
		t.Errorf("doctor's first check %+v; want reach, served by the detached deployer up with %s", reach, supervisors)
	}
	// The canaries are jobs like any other, shown as canaries.
	if r := e.run("jobs", "--container", "packer"); r.code != 0 || !strings.Contains(r.stdout, "canary (deployer-task --version)") {
		t.Errorf("jobs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// On the embedded backend the gatekeeper is deployer up's: one that is
// stopped (SIGSTOP) serves the state directory but answers nothing.
func TestDoctorEmbeddedGatekeeperNotAnswering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(doctorConfig, "CALLERS", `["*"]`), doctorScripts)
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)
	// Once its gatekeeper has answered, up is past the writes it makes as
	// it starts: stopped now, it holds no write lock of the state
	// database (stopped inside one, it would make the directory
	// unreachable, which is another failure).
	if r := e.run("describe"); r.code != 0 {
		t.Fatalf("describe: exit %d\n%s", r.code, r.stderr)
	}
	if err := up.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.cmd.Process.Signal(syscall.SIGCONT) })
	r := e.run("doctor", "--timeout", "2s")
	expectDoctor(t, r, 81, "gatekeeper   FAIL", "gatekeeper_not_answering", fmt.Sprintf("pid %d", up.cmd.Process.Pid), "SIGSTOP")
}

func TestDoctorEmbeddedNothingAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(doctorConfig, "CALLERS", `["user:someone-else"]`), doctorScripts)
	r := e.run("doctor")
	expectDoctor(t, r, 82, "nothing_allowed", "may run nothing", "canary       skip")
}

// On the embedded backend a container's task is its scripts directory:
// gone after deployer up loaded the configuration, the canary cannot
// start, as a missing task definition on ECS.
func TestDoctorEmbeddedTaskDefinitionMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, strings.ReplaceAll(doctorConfig, "CALLERS", `["*"]`), doctorScripts)
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)
	if err := os.Rename(e.scripts, e.scripts+".gone"); err != nil {
		t.Fatal(err)
	}
	r := e.run("doctor", "--container", "infra")
	expectDoctor(t, r, 83, "task_definition_missing", "infra: job ", "scripts directory")
}

// doctorAWSConfig is doctorConfig on the AWS backend: task definitions
// the fakes' ECS knows ("deployer") or not (GHOST's).
const doctorAWSConfig = `
lanes:
  amis: {concurrency: 1}
containers:
  infra:
    task_definition: deployer
    allowed_callers: CALLERS
    script_config:
      hello: {allowed_options: []}
  packer:
    task_definition: PACKER_TD
    lane: amis
    allowed_callers: CALLERS
    script_config:
      hello: {allowed_options: []}
`

// awsDoctor is a deployment on the AWS fakes.
type awsDoctor struct {
	e      *env
	prefix string
}

// newAWSDoctor writes config (CALLERS: the CI role's pattern;
// PACKER_TD: deployer) and starts the fakes, their tasks run through
// entrypoint (deployer-task when empty), unserved.
func newAWSDoctor(t *testing.T, config, entrypoint string) *awsDoctor {
	t.Helper()
	config = strings.NewReplacer("CALLERS", `["arn:aws:iam::123456789012:role/ci-*"]`, "PACKER_TD", "deployer").Replace(config)
	e := newEnv(t, config, doctorScripts)
	if entrypoint == "" {
		entrypoint = deployerTaskBin
	}
	prefix := fmt.Sprintf("dr%d-", time.Now().UnixNano()%1_000_000_000)
	flags := []string{"-task-entrypoint", entrypoint, "-task-log-group", "/" + prefix + "tasks"}
	moto := os.Getenv("DEPLOYER_TEST_AWS_ENDPOINT")
	if moto != "" {
		flags = append(flags, "-task-logs-endpoint", moto)
	}
	f := launchAWSFakes(t, e.scripts, flags...)
	endpoint := f.url
	if moto != "" {
		endpoint = moto
	}
	e.extraEnv = append(e.extraEnv, awsEnv(endpoint)...)
	e.extraEnv = append(e.extraEnv, "AWS_ENDPOINT_URL_ECS="+f.url, "DEPLOYER_PREFIX="+prefix)
	if moto != "" {
		e.extraEnv = append(e.extraEnv, fmt.Sprintf(`DEPLOYER_PRINCIPALS={%q: "arn:aws:iam::123456789012:role/ci-deployer"}`, motoSenderID(t, e, prefix)))
	}
	return &awsDoctor{e: e, prefix: prefix}
}

// serve starts "deployer up --provision": the deployment's queues, and a
// pipeline serving them.
func (d *awsDoctor) serve(t *testing.T) *proc {
	t.Helper()
	up := d.e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)
	return up
}

func TestDoctorAWSPasses(t *testing.T) {
	t.Parallel()
	d := newAWSDoctor(t, doctorAWSConfig, "")
	d.serve(t)
	r := d.e.run("doctor")
	expectDoctor(t, r, 0, "reach        ok    the AWS endpoint http://127.0.0.1:", d.prefix+"runs-lane-amis", d.prefix+"runs-lane-_cancel",
		"arn:aws:iam::123456789012:role/ci-deployer may run infra (hello); packer (hello)", "infra: deployer-task dev (job ", "packer: deployer-task dev", "PASS")
}

// A run queue deleted from a deployment (a lane's) is named, exit 80.
func TestDoctorAWSQueueMissing(t *testing.T) {
	t.Parallel()
	d := newAWSDoctor(t, doctorAWSConfig, "")
	d.serve(t)
	client := d.e.sqsClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(d.prefix + "runs-lane-amis")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	r := d.e.run("doctor", "--skip-canary")
	expectDoctor(t, r, 80, "queues       FAIL  "+d.prefix+"runs-lane-amis does not exist", "queue_missing", "terraform apply")
}

// A deployment whose gatekeeper does not run: its queues exist (made by
// deployer up --provision, stopped since) and nothing answers.
func TestDoctorAWSGatekeeperNotAnswering(t *testing.T) {
	t.Parallel()
	d := newAWSDoctor(t, doctorAWSConfig, "")
	up := d.serve(t)
	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	up.wait(t, time.Minute)
	r := d.e.run("doctor", "--timeout", "2s")
	expectDoctor(t, r, 81, "gatekeeper   FAIL", "no answer within 2s", d.prefix+"gatekeeper", "event source mapping", "canary       skip")
}

func TestDoctorAWSNothingAllowed(t *testing.T) {
	t.Parallel()
	d := newAWSDoctor(t, strings.ReplaceAll(doctorAWSConfig, "CALLERS", `["arn:aws:iam::123456789012:role/someone-else"]`), "")
	d.serve(t)
	r := d.e.run("doctor")
	expectDoctor(t, r, 82, "nothing_allowed", "arn:aws:iam::123456789012:role/ci-deployer may run nothing")
}

// A container whose task definition ECS does not know: its canary cannot
// start, exit 83; the other container's canary passes.
func TestDoctorAWSTaskDefinitionMissing(t *testing.T) {
	t.Parallel()
	d := newAWSDoctor(t, strings.ReplaceAll(doctorAWSConfig, "PACKER_TD", "packer-gone"), "")
	d.serve(t)
	r := d.e.run("doctor")
	expectDoctor(t, r, 83, "canary       ok    infra: deployer-task dev", "packer: job ", "Unable to find task definition", "task_definition_missing")
}

// Images whose entrypoint is not deployer-task: one that exits non-zero,
// one that exits 0 without a version. Both fail the canary, exit 85.
func TestDoctorAWSCanaryFailed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, entrypoint string
		says             []string
	}{
		{"exits non-zero", "#!/bin/sh\necho \"unknown option $1\"\nexit 3\n", []string{"exited with code 3", `"unknown option --version"`}},
		{"prints no version", "#!/bin/sh\necho \"an image of its own\"\n", []string{"without printing a deployer-task version", `it printed "an image of its own"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry := filepath.Join(t.TempDir(), "entrypoint")
			if err := os.WriteFile(entry, []byte(tc.entrypoint), 0o755); err != nil { //nolint:gosec // an entrypoint must be executable
				t.Fatal(err)
			}
			d := newAWSDoctor(t, doctorAWSConfig, entry)
			d.serve(t)
			r := d.e.run("doctor", "--container", "infra")
			expectDoctor(t, r, 85, append(tc.says, "canary_failed", "entrypoint")...)
		})
	}
}

// An endpoint nothing listens on: reach fails, 69, the rest skipped.
func TestDoctorAWSUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	e := newEnv(t, awsConfig, awsScripts)
	e.extraEnv = append(awsEnv(closed), "AWS_MAX_ATTEMPTS=2")
	r := e.run("doctor", "--output", "json")
	rep := decodeDoctor(t, r)
	if r.code != 69 || rep.ExitCode != 69 || rep.Cause != "unreachable" || rep.Checks[0].Name != "reach" || !strings.Contains(rep.Checks[0].Message, "connection refused") {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Checks[1:] {
		if c.Status != "skip" {
			t.Errorf("%s ran on an unreachable backend: %+v", c.Name, c)
		}
	}
}
