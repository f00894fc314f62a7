package policy

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

const testJobID = "01HZX3K8Q9M2N4P5R6S7T8V9W0"

var (
	ciRole    = schemas.Identity{Principal: "arn:aws:sts::123456789012:assumed-role/ci-deployer/gh-run-42", Source: "sqs_sender_id"}
	ciPlanner = schemas.Identity{Principal: "arn:aws:iam::123456789012:role/ci-planner", Source: "sqs_sender_id"}
	alice     = schemas.Identity{Principal: "user:alice", Source: "os_user"}
	mallory   = schemas.Identity{Principal: "arn:aws:iam::999999999999:role/ci-deployer", Source: "sqs_sender_id"}
	testNow   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	testPolicyOnce sync.Once
	testPolicyVal  *Policy
	testPolicyErr  error
)

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	testPolicyOnce.Do(func() { testPolicyVal, testPolicyErr = Load("testdata/policy.yaml") })
	if testPolicyErr != nil {
		t.Fatalf("loading testdata/policy.yaml: %v", testPolicyErr)
	}
	return testPolicyVal
}

func request(container, script string, args ...string) schemas.JobRequest {
	return schemas.JobRequest{
		Schema: schemas.JobRequestV1, JobID: testJobID, Container: container, Script: script,
		Args: schemas.ArgList(args...), Stream: "sqlite:jobs/" + testJobID, Attempt: 1,
		Caller: schemas.CallerMetadata{Ref: "main"},
	}
}

func legacy(container, script, args string) schemas.JobRequest {
	r := request(container, script)
	r.Args = schemas.Args{Legacy: args, IsLegacy: true}
	return r
}

func with(r schemas.JobRequest, f func(*schemas.JobRequest)) schemas.JobRequest {
	f(&r)
	return r
}

var planPrefix = []string{"--lock-timeout", "5m", "--repo", "https://github.com/acme/infrastructure-live"}

func TestResolveAccepts(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		name   string
		req    schemas.JobRequest
		caller schemas.Identity
		argv   []string
		check  func(t *testing.T, o schemas.RunOrder)
	}{
		{"options in both spellings, hardcoded first and last", request("terraform-planner", "plan", "--path", "live/prod", "--ref=main", "--refresh-only"), ciRole,
			append(slices.Clone(planPrefix), "--path", "live/prod", "--ref=main", "--refresh-only", "plan"), nil},
		{"no arguments", request("terraform-planner", "plan"), ciRole, append(slices.Clone(planPrefix), "plan"), nil},
		{"repeatable options in every spelling", request("terraform-planner", "plan", "--var-file", "a.tfvars", "--var-file=b.tfvars", "-target=module.x", "-target", "module.y"), ciRole,
			append(slices.Clone(planPrefix), "--var-file", "a.tfvars", "--var-file=b.tfvars", "-target=module.x", "-target", "module.y", "plan"), nil},
		{"value that is a single dash", request("terraform-planner", "plan", "--var-file", "-"), ciRole,
			append(slices.Clone(planPrefix), "--var-file", "-", "plan"), nil},
		{"legacy string is split with shell rules", legacy("terraform-planner", "plan", `--path 'live/prod' --ref="main" --var-file a\ b.tfvars`), ciRole,
			append(slices.Clone(planPrefix), "--path", "live/prod", "--ref=main", "--var-file", "a b.tfvars", "plan"), nil},
		{"value regex with alternatives matches whole", request("terraform-planner", "plan", "--ref", "feature/new-vpc"), ciRole,
			append(slices.Clone(planPrefix), "--ref", "feature/new-vpc", "plan"), nil},
		{"local user", request("terraform-planner", "plan"), alice, append(slices.Clone(planPrefix), "plan"), nil},
		{"tab inside a value", request("terraform-planner", "plan", "--var-file", "a\tb"), ciRole,
			append(slices.Clone(planPrefix), "--var-file", "a\tb", "plan"), nil},
		{"unicode in a value", request("terraform-planner", "plan", "--var-file=naïve—file.tfvars"), ciRole,
			append(slices.Clone(planPrefix), "--var-file=naïve—file.tfvars", "plan"), nil},
		{"short single-dash option is no abbreviation", request("packer", "build-ami", "-f=x", "--forced-x=1"), ciRole,
			[]string{"-f=x", "--forced-x=1"}, nil},
		{"any option mode with flags and positionals", request("packer", "build-ami", "--only=amazon-ebs.x", "-var", "region=us-east-1", "--debug", "template.pkr.hcl"), ciRole,
			[]string{"--only=amazon-ebs.x", "-var", "region=us-east-1", "--debug", "template.pkr.hcl"}, nil},
		{"end of options then dash arguments", request("packer", "build-ami", "--", "-1", "--not-an-option"), ciRole,
			[]string{"--", "-1", "--not-an-option"}, nil},
		{"positional after options", request("terraform-planner", "shell", "--verbose=2", "ls", "/tmp"), ciRole,
			[]string{"--verbose=2", "ls", "/tmp", "--color=never"}, nil},
		{"apply from main", request("terraform-planner", "apply", "--path", "live/prod"), ciRole,
			[]string{"--repo", "https://github.com/acme/infrastructure-live", "--path", "live/prod"}, nil},
		{"apply from refs/heads/main", with(request("terraform-planner", "apply"), func(r *schemas.JobRequest) { r.Caller.Ref = "refs/heads/main" }), ciRole,
			[]string{"--repo", "https://github.com/acme/infrastructure-live"}, nil},
		{"apply from a commit given as --ref only", with(request("terraform-planner", "apply", "--ref", strings.Repeat("ab", 20)), func(r *schemas.JobRequest) { r.Caller.Ref = "" }), ciRole,
			[]string{"--repo", "https://github.com/acme/infrastructure-live", "--ref", strings.Repeat("ab", 20)}, nil},
		{"resource overrides within caps and Fargate sizes", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) {
			r.TaskCPU, r.TaskMemory, r.Timeout, r.LaunchType = 4096, 16384, schemas.Duration(2*time.Hour), "fargate"
		}), ciRole, nil, func(t *testing.T, o schemas.RunOrder) {
			if o.TaskCPU != 4096 || o.TaskMemory != 16384 || o.Timeout.D() != 2*time.Hour || o.LaunchType != "FARGATE" {
				t.Errorf("resources = %d/%d %s %s", o.TaskCPU, o.TaskMemory, o.Timeout, o.LaunchType)
			}
		}},
		{"EC2 takes sizes Fargate would not", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) {
			r.TaskCPU, r.TaskMemory, r.LaunchType = 3000, 5000, "EC2"
		}), ciRole, nil, func(t *testing.T, o schemas.RunOrder) {
			if o.TaskCPU != 3000 || o.TaskMemory != 5000 || o.LaunchType != "EC2" {
				t.Errorf("resources = %d/%d %s", o.TaskCPU, o.TaskMemory, o.LaunchType)
			}
		}},
		{"lower cpu override keeps default memory", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskCPU = 512 }), ciRole, nil,
			func(t *testing.T, o schemas.RunOrder) {
				if o.TaskCPU != 512 || o.TaskMemory != 2048 {
					t.Errorf("resources = %d/%d", o.TaskCPU, o.TaskMemory)
				}
			}},
		{"script timeout and retry override", request("terraform-planner", "apply"), ciRole, nil, func(t *testing.T, o schemas.RunOrder) {
			if o.Timeout.D() != time.Hour || o.Retry.MaxAttempts != 2 {
				t.Errorf("timeout %s retry %+v", o.Timeout, o.Retry)
			}
		}},
		{"container with task definition, own lane, EC2 only", request("packer", "build-ami"), ciRole, []string{}, func(t *testing.T, o schemas.RunOrder) {
			if o.TaskDefinition != "packer-builder" || o.Lane != "amis" || o.LaneLimit != 3 || o.LaunchType != "EC2" || o.Timeout.D() != DefaultTimeout {
				t.Errorf("order = %+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := p.Resolve(tt.req, tt.caller, testNow)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if err := o.Validate(); err != nil {
				t.Fatalf("run order does not validate: %v", err)
			}
			if tt.argv != nil && !reflect.DeepEqual(o.Argv, tt.argv) {
				t.Errorf("argv\n got %q\nwant %q", o.Argv, tt.argv)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestResolveFillsTheOrder(t *testing.T) {
	p := testPolicy(t)
	req := request("terraform-planner", "plan", "--path", "live/prod")
	req.BatchID, req.TraceParent = "batch-01HZX3K8Q9M2N4P5R6S7T8V9W1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req.Batch = &schemas.BatchSpec{Name: "nightly", Size: 2, Index: 1, MaxInFlight: 1, FailFast: true}
	o, err := p.Resolve(req, ciRole, testNow)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/scripts")
	want := schemas.RunOrder{
		Schema: schemas.RunOrderV1, JobID: testJobID, Attempt: 1, Request: req,
		Container: "terraform-planner", Script: "plan",
		Argv:        append(slices.Clone(planPrefix), "--path", "live/prod", "plan"),
		Image:       "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner:v1.2.3",
		ScriptsDir:  abs,
		Environment: map[string]string{"TF_IN_AUTOMATION": "1"},
		Secrets:     map[string]string{"GITHUB_TOKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/github-token-AbCdEf", "SLACK_URL": "/ci/slack/url"},
		TaskCPU:     1024, TaskMemory: 2048, LaunchType: "FARGATE",
		Timeout:      schemas.Duration(30 * time.Minute),
		Retry:        schemas.RetryPolicy{MaxAttempts: 2, OnExitCodes: []int{75}},
		DeadLetterOn: schemas.DefaultDeadLetterOn(),
		Lane:         "deploys", LaneLimit: 2,
		Caller: ciRole, Stream: req.Stream, AcceptedAt: testNow,
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("order\n got %+v\nwant %+v", o, want)
	}

	// The order shares nothing mutable with the policy or the request.
	o.Environment["TF_IN_AUTOMATION"] = "0"
	o.Secrets["X"] = "y"
	o.Retry.OnExitCodes[0] = 1
	o.Argv[0] = "--evil"
	o.Request.Args.Words[0] = "--evil"
	if req.Args.Words[0] != "--path" {
		t.Error("the order aliases the request's args")
	}
	again, _ := p.Resolve(req, ciRole, testNow)
	if again.Environment["TF_IN_AUTOMATION"] != "1" || len(again.Secrets) != 2 || again.Retry.OnExitCodes[0] != 75 || again.Argv[0] != "--lock-timeout" {
		t.Error("mutating an order changed the policy")
	}

	// Defaults: no lane listed, no resources, default timeout and launch type.
	lp, err := Parse([]byte("containers:\n  c:\n    image: x\n    script_config:\n      s: {}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	o, err = lp.Resolve(request("c", "s"), alice, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if o.Lane != schemas.DefaultLane || o.LaneLimit != schemas.DefaultLaneLimit || o.Timeout.D() != time.Hour ||
		o.LaunchType != "FARGATE" || o.TaskCPU != 0 || o.Retry.MaxAttempts != 0 || o.ScriptsDir != "" {
		t.Errorf("defaults: %+v", o)
	}
}

// rejectCases covers every reason code; TestRejectionCodesCovered checks
// that none is missing.
var rejectCases = []struct {
	name   string
	req    schemas.JobRequest
	caller schemas.Identity
	code   string
	msg    string // substring of the message
}{
	{"invalid job id", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.JobID = "../../etc" }), ciRole, CodeMalformedRequest, "job_id"},
	{"unknown container", request("nope", "plan"), ciRole, CodeUnknownContainer, "container nope is not in the allow-list; containers you may run: packer, terraform-planner"},
	{"unknown container named with control characters", request("nope\n\x1b[31m", "plan"), ciRole, CodeUnknownContainer, `"nope\n\x1b[31m"`},
	{"unknown script", request("terraform-planner", "destroy"), ciRole, CodeUnknownScript, "scripts you may run: apply, plan, shell"},
	{"unknown script lists only what the caller may run", request("terraform-planner", "destroy"), alice, CodeUnknownScript, "scripts you may run: plan, shell"},
	{"caller of another account", request("terraform-planner", "plan"), mallory, CodeCallerNotAllowed, "may not run container terraform-planner; allowed callers: arn:aws:iam::123456789012:role/ci-*, user:alice"},
	{"empty caller", request("terraform-planner", "plan"), schemas.Identity{}, CodeCallerNotAllowed, "caller identity is empty"},
	{"other local user", request("terraform-planner", "plan"), schemas.Identity{Principal: "user:bob"}, CodeCallerNotAllowed, "caller user:bob may not run"},
	{"caller narrowed by the script", request("terraform-planner", "apply"), ciPlanner, CodeCallerNotAllowed, "may not run terraform-planner/apply; allowed callers: arn:aws:iam::123456789012:role/ci-deployer"},
	{"container nobody may run", request("locked", "noop"), ciRole, CodeCallerNotAllowed, "allowed callers: none"},
	{"unterminated quote", legacy("terraform-planner", "plan", `--path 'live/prod`), ciRole, CodeMalformedArgs, "unterminated single quote at byte 7"},
	{"trailing backslash", legacy("terraform-planner", "plan", `--path x\`), ciRole, CodeMalformedArgs, "trailing backslash"},
	{"too many arguments", request("terraform-planner", "shell", slices.Repeat([]string{"x"}, MaxArgs+1)...), ciRole, CodeTooManyArgs, "257 arguments"},
	{"NUL in a value", request("terraform-planner", "plan", "--path", "live\x00/prod"), ciRole, CodeInvalidArgument, "control character U+0000"},
	{"newline in a value", request("terraform-planner", "plan", "--path=live\n--destroy"), ciRole, CodeInvalidArgument, "control character U+000A"},
	{"carriage return", request("terraform-planner", "shell", "a\rb"), ciRole, CodeInvalidArgument, "U+000D"},
	{"line separator", request("terraform-planner", "shell", "a\u2028b"), ciRole, CodeInvalidArgument, "U+2028"},
	{"C1 control", request("terraform-planner", "shell", "a\u0085b"), ciRole, CodeInvalidArgument, "U+0085"},
	{"invalid UTF-8", request("terraform-planner", "shell", "a\xffb"), ciRole, CodeInvalidArgument, "invalid UTF-8"},
	{"argument too long", request("terraform-planner", "shell", strings.Repeat("a", MaxArgBytes+1)), ciRole, CodeInvalidArgument, "4097 bytes long"},
	{"hyphen look-alike", request("terraform-planner", "shell", "\u2010\u2010destroy"), ciRole, CodeMalformedOption, `argument "\u2010\u2010destroy" for terraform-planner/shell looks like an option but is not spelled as one`},
	{"minus sign", request("terraform-planner", "shell", "\u2212destroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"em dash", request("terraform-planner", "shell", "\u2014destroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"fullwidth hyphen-minus", request("terraform-planner", "shell", "\uff0d\uff0ddestroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"fullwidth letters", request("terraform-planner", "plan", "--\uff44estroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"Cyrillic look-alike", request("terraform-planner", "plan", "--d\u0435stroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"three dashes", request("terraform-planner", "plan", "---destroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"leading space", request("terraform-planner", "shell", " --destroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"leading zero-width space", request("terraform-planner", "shell", "\u200b--destroy"), ciRole, CodeMalformedOption, "looks like an option"},
	{"leading tab", request("terraform-planner", "shell", "\t-x"), ciRole, CodeMalformedOption, "looks like an option"},
	{"empty option name", request("terraform-planner", "shell", "--=x"), ciRole, CodeMalformedOption, "looks like an option"},
	{"look-alike after --", request("packer", "build-ami", "--", "\u2010force"), ciRole, CodeMalformedOption, "looks like an option"},
	{"option not listed", request("terraform-planner", "plan", "--parallelism=50"), ciRole, CodeOptionNotAllowed, "option --parallelism is not allowed for terraform-planner/plan; allowed options: --path, --ref, --refresh-only, --var-file, -target"},
	{"allowed option in another case", request("terraform-planner", "plan", "--Path", "x"), ciRole, CodeOptionNotAllowed, "write it exactly as configured: --path"},
	{"allowed option with one dash", request("terraform-planner", "plan", "-path=x"), ciRole, CodeOptionNotAllowed, "write it exactly as configured: --path"},
	{"empty caller list admits nobody, not even \"*\"", request("locked", "noop"), schemas.Identity{Principal: "*"}, CodeCallerNotAllowed, "allowed callers: none"},
	{"restricted", request("terraform-planner", "plan", "--destroy"), ciRole, CodeOptionRestricted, "option --destroy is restricted for terraform-planner/plan; allowed options: --path, --ref, --refresh-only, --var-file, -target"},
	{"restricted upper case", request("terraform-planner", "plan", "--DESTROY"), ciRole, CodeOptionRestricted, "option --DESTROY is restricted"},
	{"restricted single dash", request("terraform-planner", "plan", "-destroy"), ciRole, CodeOptionRestricted, "restricted"},
	{"restricted with a value", request("terraform-planner", "plan", "--destroy=true"), ciRole, CodeOptionRestricted, "restricted"},
	{"restricted configured with one dash, given with two", request("terraform-planner", "plan", "--auto-approve"), ciRole, CodeOptionRestricted, "restricted"},
	{"restricted in any-option mode", request("packer", "build-ami", "-FORCE"), ciRole, CodeOptionRestricted, "option -FORCE is restricted for packer/build-ami; any option except: --force, --on-error"},
	{"restricted after --", request("packer", "build-ami", "--", "--force"), ciRole, CodeOptionRestricted, "(also after --)"},
	{"abbreviation of a restricted option", request("packer", "build-ami", "--for"), ciRole, CodeOptionRestricted, "option --for is restricted for packer/build-ami: it abbreviates --force, and parsers such as getopt_long and argparse accept abbreviations"},
	{"one-letter long abbreviation", request("packer", "build-ami", "--f=1"), ciRole, CodeOptionRestricted, "abbreviates --force"},
	{"abbreviation after --", request("packer", "build-ami", "--", "--forc"), ciRole, CodeOptionRestricted, "(also after --): it abbreviates --force"},
	{"underscore for dash", request("packer", "build-ami", "--on_error=abort"), ciRole, CodeOptionRestricted, "option --on_error is restricted"},
	{"underscore for dash in a hardcoded option", request("terraform-planner", "plan", "--lock_timeout=0s"), ciRole, CodeHardcodedOptionOverridden, "fixed by the configuration"},
	{"abbreviation in strict mode is simply not allowed", request("terraform-planner", "plan", "--dest"), ciRole, CodeOptionNotAllowed, "option --dest is not allowed"},
	{"restricted hidden in a legacy string", legacy("terraform-planner", "plan", `--path x "--destroy"`), ciRole, CodeOptionRestricted, "restricted"},
	{"value not matching the whole regex", request("terraform-planner", "plan", "--ref", "mainline"), ciRole, CodeOptionValueRejected, `value "mainline" of option --ref is not allowed for terraform-planner/plan; it must match main|[0-9a-f]{40}|feature/[a-z0-9-]+ (whole value)`},
	{"value after =", request("terraform-planner", "plan", "--path=../../etc"), ciRole, CodeOptionValueRejected, "--path"},
	{"value with upper case", request("terraform-planner", "plan", "--ref=feature/X"), ciRole, CodeOptionValueRejected, "--ref"},
	{"value missing at the end", request("terraform-planner", "plan", "--path"), ciRole, CodeOptionMissingValue, "option --path needs a value for terraform-planner/plan; write --path VALUE or --path=VALUE"},
	{"value missing before an option", request("terraform-planner", "plan", "--path", "--refresh-only"), ciRole, CodeOptionMissingValue, "followed by --refresh-only"},
	{"negative number needs =", request("terraform-planner", "plan", "--var-file", "-1"), ciRole, CodeOptionMissingValue, "write --var-file=VALUE"},
	{"value missing before --", request("terraform-planner", "shell", "--x", "--", "y"), ciRole, CodeOptionMissingValue, "followed by --"},
	{"value missing before a look-alike", request("terraform-planner", "plan", "--path", "\u2010destroy"), ciRole, CodeOptionMissingValue, "followed by"},
	{"flag given a value", request("terraform-planner", "plan", "--refresh-only=false"), ciRole, CodeOptionUnexpectedValue, "option --refresh-only takes no value"},
	{"repeated", request("terraform-planner", "plan", "--path", "a", "--path=b"), ciRole, CodeOptionRepeated, "option --path is given more than once for terraform-planner/plan; repeatable options: --var-file, -target"},
	{"repeated flag", request("packer", "build-ami", "--debug", "--debug"), ciRole, CodeOptionRepeated, "repeatable options: none"},
	{"repeated in another spelling", request("packer", "build-ami", "--only=a", "-ONLY=b"), ciRole, CodeOptionRepeated, "more than once"},
	{"hardcoded", request("terraform-planner", "plan", "--repo", "https://evil.example/x"), ciRole, CodeHardcodedOptionOverridden, "option --repo is fixed by the configuration of terraform-planner/plan (--repo https://github.com/acme/infrastructure-live) and cannot be passed"},
	{"hardcoded in another spelling", request("terraform-planner", "plan", "-LOCK-TIMEOUT=0s"), ciRole, CodeHardcodedOptionOverridden, "fixed by the configuration"},
	{"positional", request("terraform-planner", "plan", "destroy"), ciRole, CodePositionalNotAllowed, "positional argument destroy is not allowed for terraform-planner/plan; it accepts options only (allowed options: --path"},
	{"end of options without positionals", request("terraform-planner", "plan", "--"), ciRole, CodePositionalNotAllowed, "-- introduces positional arguments"},
	{"empty positional", request("terraform-planner", "apply", ""), ciRole, CodePositionalNotAllowed, `positional argument "" is not allowed`},
	{"-- before option-like hardcoded args", request("terraform-planner", "shell", "--", "x"), ciRole, CodeEndOfOptionsNotAllowed, "it would turn the configured trailing arguments (--color=never) into positionals"},
	{"ref not allowed", with(request("terraform-planner", "apply"), func(r *schemas.JobRequest) { r.Caller.Ref = "feature/x" }), ciRole, CodeRefNotAllowed, "terraform-planner/apply may only run from refs matching main, [0-9a-f]{40} (whole match); got feature/x"},
	{"ref prefix only", with(request("terraform-planner", "apply"), func(r *schemas.JobRequest) { r.Caller.Ref = "main-backup" }), ciRole, CodeRefNotAllowed, "got main-backup"},
	{"no ref", with(request("terraform-planner", "apply"), func(r *schemas.JobRequest) { r.Caller.Ref = "" }), ciRole, CodeRefNotAllowed, "the request names no ref"},
	{"--ref not allowed", request("terraform-planner", "apply", "--ref=feature/x"), ciRole, CodeRefNotAllowed, "got --ref feature/x"},
	{"cpu over cap", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskCPU = 8192 }), ciRole, CodeCPUOverCap, "task_cpu 8192 is over the cap of container terraform-planner: at most 4096"},
	{"cpu without override", with(request("packer", "build-ami"), func(r *schemas.JobRequest) { r.TaskCPU = 1024 }), ciRole, CodeCPUOverCap, "allows no override"},
	{"memory over cap", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskMemory = 32768 }), ciRole, CodeMemoryOverCap, "task_memory 32768 is over the cap of container terraform-planner: at most 16384"},
	{"Fargate pair", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskMemory = 16384 }), ciRole, CodeInvalidFargateSize, "FARGATE cannot run task_cpu 1024 with task_memory 16384; with 1024 CPU units use 2048 to 8192 in steps of 1024 MiB"},
	{"Fargate cpu", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskCPU = 3000 }), ciRole, CodeInvalidFargateSize, "FARGATE has no task_cpu 3000; use one of 256, 512, 1024, 2048, 4096, 8192, 16384"},
	{"Fargate smallest", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.TaskCPU, r.TaskMemory = 256, 4096 }), ciRole, CodeInvalidFargateSize, "use 512, 1024, 2048 MiB"},
	{"launch type", with(request("packer", "build-ami"), func(r *schemas.JobRequest) { r.LaunchType = "FARGATE" }), ciRole, CodeLaunchTypeNotAllowed, "launch_type FARGATE is not allowed for container packer; allowed: EC2"},
	{"unknown launch type", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.LaunchType = "EXTERNAL" }), ciRole, CodeLaunchTypeNotAllowed, "allowed: FARGATE, EC2"},
	{"timeout over cap", with(request("terraform-planner", "plan"), func(r *schemas.JobRequest) { r.Timeout = schemas.Duration(3 * time.Hour) }), ciRole, CodeTimeoutOverCap, "timeout 3h0m0s is over the cap of terraform-planner/plan: at most 2h0m0s"},
	{"timeout without max", with(request("packer", "build-ami"), func(r *schemas.JobRequest) { r.Timeout = schemas.Duration(61 * time.Minute) }), ciRole, CodeTimeoutOverCap, "at most 1h0m0s"},
}

func TestResolveRejects(t *testing.T) {
	p := testPolicy(t)
	for _, tt := range rejectCases {
		t.Run(tt.name, func(t *testing.T) {
			o, err := p.Resolve(tt.req, tt.caller, testNow)
			if err == nil {
				t.Fatalf("accepted, argv %q", o.Argv)
			}
			var rej *Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("error %T %v, want *Rejection", err, err)
			}
			if rej.Code != tt.code {
				t.Errorf("code %s, want %s (%s)", rej.Code, tt.code, rej.Message)
			}
			if !strings.Contains(rej.Message, tt.msg) {
				t.Errorf("message\n %s\ndoes not contain\n %s", rej.Message, tt.msg)
			}
			if strings.ContainsAny(rej.Message, "\n\r\x00") || rej.Error() != rej.Message {
				t.Errorf("message is not one clean line: %q", rej.Message)
			}
			if !slices.Contains(Codes, rej.Code) {
				t.Errorf("code %s is not listed in Codes", rej.Code)
			}
		})
	}
}

func TestRejectionCodesCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, tt := range rejectCases {
		seen[tt.code] = true
	}
	for _, c := range Codes {
		if !seen[c] {
			t.Errorf("no test rejects with %s", c)
		}
		if CodeMeanings[c] == "" {
			t.Errorf("code %s has no meaning documented", c)
		}
	}
	if len(CodeMeanings) != len(Codes) {
		t.Errorf("CodeMeanings has %d codes, Codes %d", len(CodeMeanings), len(Codes))
	}
}

func TestDescribe(t *testing.T) {
	p := testPolicy(t)
	names := func(cs []ContainerInfo) []string {
		var out []string
		for _, c := range cs {
			for _, s := range c.Scripts {
				out = append(out, c.Name+"/"+s.Name)
			}
		}
		return out
	}
	for _, tt := range []struct {
		caller schemas.Identity
		want   []string
	}{
		{ciRole, []string{"packer/build-ami", "terraform-planner/apply", "terraform-planner/plan", "terraform-planner/shell"}},
		{ciPlanner, []string{"packer/build-ami", "terraform-planner/plan", "terraform-planner/shell"}},
		{alice, []string{"packer/build-ami", "terraform-planner/plan", "terraform-planner/shell"}},
		{mallory, []string{"packer/build-ami"}},
		{schemas.Identity{}, nil},
	} {
		if got := names(p.Describe(tt.caller)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Describe(%s) = %v, want %v", tt.caller.Principal, got, tt.want)
		}
	}
	infos := p.Describe(ciRole)
	plan := infos[1].Scripts[1]
	if plan.Name != "plan" || plan.AnyOption || !reflect.DeepEqual(plan.HardcodedArgv, planPrefix) ||
		plan.OptionPatterns["--ref"] == "" || plan.Timeout.D() != 30*time.Minute || plan.MaxTimeout.D() != 2*time.Hour {
		t.Errorf("plan info = %+v", plan)
	}
	if !infos[0].Scripts[0].AnyOption || infos[1].Secrets[0] != "GITHUB_TOKEN" {
		t.Errorf("infos = %+v", infos)
	}
	// Describe returns copies.
	plan.HardcodedArgv[0] = "x"
	if p.Describe(ciRole)[1].Scripts[1].HardcodedArgv[0] != "--lock-timeout" {
		t.Error("Describe aliases the policy")
	}
}

func TestResolveConcurrent(t *testing.T) {
	p := testPolicy(t)
	req := request("terraform-planner", "plan", "--path", "live/prod", "--var-file", "a")
	want, err := p.Resolve(req, ciRole, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				o, err := p.Resolve(req, ciRole, testNow)
				if err != nil || !reflect.DeepEqual(o, want) {
					errs <- fmt.Sprintf("%v %v", o.Argv, err)
					return
				}
				o.Environment["X"] = "y" // each order is the caller's to change
				_ = p.Describe(ciRole)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestAllowedOptionsNullVersusEmpty(t *testing.T) {
	p, err := Parse([]byte(`
containers:
  c:
    image: x
    script_config:
      none:
        allowed_options: []
      flags-only:
        allowed_options: []
        allowed_options_without_args: [--dry-run]
      any:
        allowed_options: null
        restricted_options: [--force]
      absent: {}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		script string
		args   []string
		code   string
	}{
		{"none", nil, ""},
		{"none", []string{"--x=1"}, CodeOptionNotAllowed},
		{"none", []string{"x"}, CodePositionalNotAllowed},
		{"flags-only", []string{"--dry-run"}, ""},
		{"flags-only", []string{"--x=1"}, CodeOptionNotAllowed},
		{"any", []string{"--x=1", "--y", "2", "-Z=3"}, ""},
		{"any", []string{"--Force"}, CodeOptionRestricted},
		{"absent", []string{"--x=1"}, ""},
		{"absent", []string{"x"}, CodePositionalNotAllowed},
	} {
		_, err := p.Resolve(request("c", tt.script, tt.args...), alice, testNow)
		code := ""
		if rej := (*Rejection)(nil); errors.As(err, &rej) {
			code = rej.Code
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code {
			t.Errorf("%s %q: code %q (%v), want %q", tt.script, tt.args, code, err, tt.code)
		}
	}
}
