package test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
)

// tfUpgradeRoot is a small deployment — the deployer module with a
// container's task definition and the worker service, and a CI role with
// the ci-caller policy — from a copy of the modules beside it, on tfBase:
// every AWS endpoint at the emulator (%[1]s), every name under a prefix
// (%[2]s).
const tfUpgradeRoot = tfBase + `
variable "gatekeeper_zip" {
  type = string
}

variable "release" {
  type    = string
  default = null
}

variable "tags" {
  type    = map(string)
  default = {}
}

module "deployer" {
  source           = "./modules/deployer"
  prefix           = "%[2]s"
  release          = var.release
  tags             = var.tags
  callers          = [aws_iam_role.ci]
  gatekeeper_zip   = var.gatekeeper_zip
  logshipper_zip   = "logshipper.zip"
  task_definitions = { "%[2]sdemo" = { image = "busybox:1.36" } }
  worker_image     = "deployer-worker:test"
  subnets          = [aws_subnet.a.id]
}

module "ci" {
  source            = "./modules/ci-caller"
  prefix            = module.deployer.prefix
  request_queue_arn = module.deployer.request_queue_arn
  log_group_arns    = module.deployer.log_group_arns
  role_names        = [aws_iam_role.ci.name]
}

output "deployer" {
  value = {
    release              = module.deployer.release
    gatekeeper           = module.deployer.gatekeeper_function_name
    logshipper           = module.deployer.logshipper_function_name
    gatekeeper_alias_arn = module.deployer.gatekeeper_alias_arn
    logshipper_alias_arn = module.deployer.logshipper_alias_arn
    task_definition_arns = module.deployer.task_definition_arns
    request_queue_arn    = module.deployer.request_queue_arn
    task_log_group       = module.deployer.task_log_group
    environment          = module.deployer.environment
    ci_role              = aws_iam_role.ci.arn
  }
}
`

// upgradeOutputs is the deployer output of tfUpgradeRoot.
type upgradeOutputs struct {
	Release            string            `json:"release"`
	Gatekeeper         string            `json:"gatekeeper"`
	Logshipper         string            `json:"logshipper"`
	GatekeeperAlias    string            `json:"gatekeeper_alias_arn"`
	LogshipperAlias    string            `json:"logshipper_alias_arn"`
	TaskDefinitionARNs map[string]string `json:"task_definition_arns"`
	RequestQueueARN    string            `json:"request_queue_arn"`
	TaskLogGroup       string            `json:"task_log_group"`
	Environment        map[string]string `json:"environment"`
	CIRole             string            `json:"ci_role"`
}

// The ci-caller module's statement that lets CI enqueue, and the deployer
// module's that lets the gatekeeper forward, as the modules spell them:
// the lock-out cases edit these.
const (
	sendRequestsHCL = `    sid       = "SendRequests"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [var.request_queue_arn]
  }`
	writeRunOrdersHCL = `    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage", "sqs:CreateQueue", "sqs:SetQueueAttributes"]
    resources = [local.lane_queues]`
)

// TestTerraformUpgradeOnMoto applies a small deployment of
// terraform/modules (a copy) to the emulator, then:
//   - plans changes to the modules that would lock CI out of the request
//     queue or the gatekeeper out of the run queues, and expects each plan
//     to fail with the module's message, while the unchanged modules and a
//     harmless change plan fine;
//   - rolls out a new release (a changed gatekeeper package) and checks
//     what a rollback needs: a new version of each Lambda behind its alias
//     live, described with the release, the alias being what the request
//     queue, the subscription filter and the invoke permission name, and
//     the previous task definition revisions still ACTIVE while the new
//     ones carry the new release and the worker service runs its one.
//
// Then terraform destroys it. One init; the plans skip the refresh. About
// 3 minutes on 2 cores (apply 60 s, 10 plans of 7 s, upgrade 35 s,
// destroy 20 s).
func TestTerraformUpgradeOnMoto(t *testing.T) {
	ep := os.Getenv("DEPLOYER_TEST_AWS_ENDPOINT")
	if os.Getenv("DEPLOYER_TEST_TERRAFORM") == "" || ep == "" {
		t.Skip("set DEPLOYER_TEST_TERRAFORM=1 and DEPLOYER_TEST_AWS_ENDPOINT (moto) to apply the Terraform modules (.ci/run does)")
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("DEPLOYER_TEST_TERRAFORM is set but: %v", err)
	}
	begin := time.Now()
	prefix := fmt.Sprintf("up%d-", time.Now().UnixNano()%1_000_000_000)
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "modules"), os.DirFS("../terraform/modules")); err != nil {
		t.Fatal(err)
	}
	writeLambdaZip(t, filepath.Join(root, "gatekeeper-1.zip"), "release 1")
	writeLambdaZip(t, filepath.Join(root, "gatekeeper-2.zip"), "release 2")
	writeLambdaZip(t, filepath.Join(root, "logshipper.zip"), "logshipper")
	if err := os.WriteFile(filepath.Join(root, "main.tf"), []byte(fmt.Sprintf(tfUpgradeRoot, ep, prefix)), 0o644); err != nil {
		t.Fatal(err)
	}
	terraform := func(d time.Duration, args ...string) []byte {
		t.Helper()
		start := time.Now()
		out, err := runTerraform(tf, root, d, args...)
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("terraform %s: %s", args[0], time.Since(start).Round(100*time.Millisecond))
		return out
	}
	release := func(n int) string { return fmt.Sprintf("-var=gatekeeper_zip=gatekeeper-%d.zip", n) }
	outputs := func() upgradeOutputs {
		t.Helper()
		var out struct {
			Deployer struct{ Value upgradeOutputs }
		}
		if err := json.Unmarshal(terraform(time.Minute, "output", "-json"), &out); err != nil {
			t.Fatal(err)
		}
		return out.Deployer.Value
	}

	terraform(2*time.Minute, "init", "-no-color")
	t.Cleanup(func() {
		terraform(5*time.Minute, "destroy", "-auto-approve", "-no-color", release(1))
		t.Logf("TestTerraformUpgradeOnMoto took %s", time.Since(begin).Round(time.Second))
	})
	terraform(5*time.Minute, "apply", "-auto-approve", "-no-color", release(1))
	first := outputs()

	cfg := awstest.Config(t, ep, nil)
	gk1, ls1 := checkLiveAliases(t, cfg, first)

	t.Run("lock-out guards", func(t *testing.T) {
		laneARN := func(lane string) string {
			return strings.Replace(first.RequestQueueARN, ":"+prefix+"requests", ":"+prefix+"runs-lane-"+lane, 1)
		}
		ci := []string{
			"The ci-caller module refuses this change: it would lock CI out of the request queue.",
			fmt.Sprintf("The CI caller's policy (inline policy deployer-caller of role %sci) would no longer allow sqs:SendMessage on %s:", prefix, first.RequestQueueARN),
			"deployer cannot be upgraded through itself without it",
		}
		gatekeeper := []string{
			"The deployer module refuses this change: it would lock the gatekeeper out of the run queues.",
			fmt.Sprintf("The gatekeeper's policy (inline policy deployer-gatekeeper of role %sgatekeeper) would no longer allow sqs:SendMessage on:", prefix),
			"deployer cannot be upgraded through itself without it",
		}
		notAllowed, denied := "no Allow statement without a Condition grants it", "a Deny statement refuses it"
		for _, c := range []struct {
			name     string
			file     string // a module's file, under modules/; "": no edit
			old, new string
			vars     []string
			refusal  []string // what the plan's failure says; nil: the plan passes
		}{
			{name: "unchanged"},
			{name: "tags changed", vars: []string{`-var=tags={team="platform"}`}},
			{name: "CI may still send through wildcards", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new: strings.NewReplacer(`"sqs:SendMessage"`, `"SQS:Send*"`, `[var.request_queue_arn]`, `["arn:*:sqs:*:*:*requests"]`).Replace(sendRequestsHCL)},
			{name: "CI's SendMessage removed", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new:     strings.Replace(sendRequestsHCL, `, "sqs:SendMessage"]`, `]`, 1),
				refusal: append(slices.Clone(ci), first.RequestQueueARN+": "+notAllowed)},
			{name: "CI's SendMessage replaced by ReceiveMessage", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new:     strings.Replace(sendRequestsHCL, `"sqs:SendMessage"`, `"sqs:ReceiveMessage"`, 1),
				refusal: append(slices.Clone(ci), first.RequestQueueARN+": "+notAllowed)},
			{name: "CI's SendMessage narrowed to another queue", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new:     strings.Replace(sendRequestsHCL, `[var.request_queue_arn]`, `["${var.request_queue_arn}-dlq"]`, 1),
				refusal: append(slices.Clone(ci), first.RequestQueueARN+": "+notAllowed)},
			{name: "CI's SendMessage denied", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new: sendRequestsHCL + `
  statement {
    sid       = "NoRequests"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [var.request_queue_arn]
  }`,
				refusal: append(slices.Clone(ci), first.RequestQueueARN+": "+denied)},
			{name: "CI's SendMessage denied through wildcards", file: "ci-caller/main.tf", old: sendRequestsHCL,
				new: sendRequestsHCL + `
  statement {
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = ["*:${var.prefix}req*"]
  }`,
				refusal: append(slices.Clone(ci), first.RequestQueueARN+": "+denied)},
			{name: "gatekeeper's SendMessage on run queues removed", file: "deployer/iam.tf", old: writeRunOrdersHCL,
				new: strings.Replace(writeRunOrdersHCL, ` "sqs:SendMessage",`, ``, 1),
				refusal: append(slices.Clone(gatekeeper),
					laneARN("default")+" ("+notAllowed+")", laneARN("_cancel")+" ("+notAllowed+")")},
			{name: "gatekeeper's SendMessage narrowed to one lane", file: "deployer/iam.tf", old: writeRunOrdersHCL,
				new:     strings.Replace(writeRunOrdersHCL, `[local.lane_queues]`, `[local.lane_queue_arns["default"]]`, 1),
				refusal: append(slices.Clone(gatekeeper), laneARN("_cancel")+" ("+notAllowed+")")},
			{name: "release not a name", vars: []string{"-var=release=not a name"},
				refusal: []string{"A release is 1 to 64 letters, digits, dots, underscores and hyphens"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				if c.file != "" {
					restore := editFile(t, filepath.Join(root, "modules", c.file), c.old, c.new)
					defer restore()
				}
				args := append([]string{"plan", "-refresh=false", "-lock=false", "-no-color", release(1)}, c.vars...)
				start := time.Now()
				out, err := runTerraform(tf, root, 5*time.Minute, args...)
				t.Logf("terraform plan: %s", time.Since(start).Round(100*time.Millisecond))
				// Terraform wraps its messages: compare with single spaces.
				said := strings.Join(strings.Fields(string(out)), " ")
				switch {
				case c.refusal == nil && err != nil:
					t.Fatalf("the plan failed: %v\n%s", err, out)
				case c.refusal == nil && strings.Contains(said, "refuses this change"):
					t.Fatalf("the plan passed but printed a refusal:\n%s", out)
				case c.refusal != nil && err == nil:
					t.Fatalf("the plan passed; want it refused with %q\n%s", c.refusal, out)
				}
				for _, want := range c.refusal {
					if !strings.Contains(said, want) {
						t.Errorf("the failing plan does not say %q:\n%s", want, out)
					}
				}
			})
		}
	})

	t.Run("release", func(t *testing.T) {
		terraform(5*time.Minute, "apply", "-auto-approve", "-no-color", release(2))
		second := outputs()
		hash := regexp.MustCompile(`^[0-9a-f]{12}$`)
		if !hash.MatchString(first.Release) || !hash.MatchString(second.Release) || first.Release == second.Release {
			t.Fatalf("releases %q then %q: want two content hashes (12 hex digits), the second one new", first.Release, second.Release)
		}
		gk2, ls2 := checkLiveAliases(t, cfg, second)
		for _, f := range []struct {
			name       string
			old, new   lambdaVersion
			codeChange bool
		}{{first.Gatekeeper, gk1, gk2, true}, {first.Logshipper, ls1, ls2, false}} {
			// The previous version is still there for a rollback; only
			// the gatekeeper's code changed, but both are released anew.
			if f.old.Version == f.new.Version {
				t.Errorf("%s: alias live still on version %s after the upgrade", f.name, f.old.Version)
			}
			if old := findVersion(t, cfg, f.name, f.old.Version); old.Description != "deployer release "+first.Release {
				t.Errorf("%s: version %s after the upgrade is described %q, want the first release's", f.name, f.old.Version, old.Description)
			}
			if changed := f.old.CodeSha256 != f.new.CodeSha256; changed != f.codeChange {
				t.Errorf("%s: code %s then %s, want a change: %v", f.name, f.old.CodeSha256, f.new.CodeSha256, f.codeChange)
			}
		}

		// What feeds the functions names the aliases.
		var mappings struct {
			EventSourceMappings []struct{ EventSourceArn, FunctionArn string }
		}
		lambdaGet(t, cfg, "/2015-03-31/event-source-mappings/", &mappings)
		found := false
		for _, m := range mappings.EventSourceMappings {
			if m.EventSourceArn != second.RequestQueueARN {
				continue
			}
			found = true
			// AWS keeps the alias's ARN; moto resolves it to its version.
			if m.FunctionArn != second.GatekeeperAlias && m.FunctionArn != strings.TrimSuffix(second.GatekeeperAlias, "live")+gk2.Version {
				t.Errorf("the request queue feeds %s, want the alias %s", m.FunctionArn, second.GatekeeperAlias)
			}
		}
		if !found {
			t.Errorf("no event source mapping of %s", second.RequestQueueARN)
		}
		var policy struct{ Policy string }
		lambdaGet(t, cfg, "/2015-03-31/functions/"+second.Logshipper+"/policy?Qualifier=live", &policy)
		if !strings.Contains(policy.Policy, "logs.amazonaws.com") || !strings.Contains(policy.Policy, `"`+second.LogshipperAlias+`"`) {
			t.Errorf("the logshipper's alias lets no one invoke it: %s", policy.Policy)
		}
		filters, err := cloudwatchlogs.NewFromConfig(cfg).DescribeSubscriptionFilters(context.Background(),
			&cloudwatchlogs.DescribeSubscriptionFiltersInput{LogGroupName: aws.String(second.TaskLogGroup)})
		if err != nil {
			t.Fatal(err)
		}
		if len(filters.SubscriptionFilters) != 1 || aws.ToString(filters.SubscriptionFilters[0].DestinationArn) != second.LogshipperAlias {
			t.Errorf("subscription filters of %s: %+v, want one to %s", second.TaskLogGroup, filters.SubscriptionFilters, second.LogshipperAlias)
		}

		// Every family has a new revision of the new release, and its
		// previous one is still ACTIVE, of the first release.
		client := ecs.NewFromConfig(cfg)
		families := slices.Sorted(maps.Keys(second.TaskDefinitionARNs))
		if want := []string{prefix + "demo", prefix + "worker"}; !slices.Equal(families, want) {
			t.Fatalf("task_definition_arns families %v, want %v", families, want)
		}
		for _, family := range families {
			old, cur := first.TaskDefinitionARNs[family], second.TaskDefinitionARNs[family]
			if old == cur {
				t.Errorf("%s: still %s after the upgrade, want a new revision", family, cur)
				continue
			}
			checkTaskDefinition(t, client, old, first.Release, prefix)
			checkTaskDefinition(t, client, cur, second.Release, prefix)
		}
		svc, err := client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{
			Cluster: aws.String(prefix + "tasks"), Services: []string{prefix + "worker"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Services) != 1 || aws.ToString(svc.Services[0].TaskDefinition) != second.TaskDefinitionARNs[prefix+"worker"] {
			t.Errorf("the worker service runs %v, want %s", svc.Services, second.TaskDefinitionARNs[prefix+"worker"])
		}
	})

	t.Run("doctor and rollback", func(t *testing.T) {
		upgradeFailingDoctorRollsBack(t, ep, prefix, func(release, zip string) upgradeOutputs {
			terraform(5*time.Minute, "apply", "-auto-approve", "-no-color", "-var=gatekeeper_zip="+zip, "-var=release="+release)
			out := outputs()
			// moto would invoke what its mapping names on every send:
			// the test plays the mapping (upgradeFailingDoctorRollsBack).
			disableEventSourceMappings(t, cfg, out.RequestQueueARN)
			return out
		})
	})
}

// writeLambdaZip writes a Lambda package whose bootstrap says what.
func writeLambdaZip(t *testing.T, path, what string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	w, err := z.Create("bootstrap")
	if err == nil {
		_, err = fmt.Fprintf(w, "#!/bin/sh\necho %s\n", what)
	}
	if err == nil {
		err = z.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// editFile replaces old, which must be in the file once, by new, and
// returns what puts the file back.
func editFile(t *testing.T, path, old, new string) (restore func()) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s holds %d times, not once, the text the test edits (did the module change?):\n%s", path, n, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lambdaVersion is a published version of a function, as the Lambda API
// describes it.
type lambdaVersion struct {
	Version, Description, CodeSha256 string
}

// checkLiveAliases checks that each function's alias live points at a
// published version (not $LATEST) described with the deployment's
// release, as the alias is, and returns those versions.
func checkLiveAliases(t *testing.T, cfg aws.Config, d upgradeOutputs) (gatekeeper, logshipper lambdaVersion) {
	t.Helper()
	var got []lambdaVersion
	for _, f := range []struct{ name, arn string }{{d.Gatekeeper, d.GatekeeperAlias}, {d.Logshipper, d.LogshipperAlias}} {
		var alias struct{ AliasArn, FunctionVersion, Description string }
		lambdaGet(t, cfg, "/2015-03-31/functions/"+f.name+"/aliases/live", &alias)
		want := "deployer release " + d.Release
		if alias.AliasArn != f.arn || alias.Description != want || alias.FunctionVersion == "$LATEST" {
			t.Errorf("%s: alias live %+v, want %s on a published version, described %q", f.name, alias, f.arn, want)
		}
		v := findVersion(t, cfg, f.name, alias.FunctionVersion)
		if v.Description != want {
			t.Errorf("%s: version %s is described %q, want %q", f.name, v.Version, v.Description, want)
		}
		got = append(got, v)
	}
	return got[0], got[1]
}

// findVersion returns the published version of a function, or fails.
func findVersion(t *testing.T, cfg aws.Config, function, version string) lambdaVersion {
	t.Helper()
	var versions struct{ Versions []lambdaVersion }
	lambdaGet(t, cfg, "/2015-03-31/functions/"+function+"/versions", &versions)
	for _, v := range versions.Versions {
		if v.Version == version {
			return v
		}
	}
	t.Fatalf("%s has no version %s: %+v", function, version, versions.Versions)
	return lambdaVersion{}
}

// lambdaGet reads path of the Lambda REST API at cfg's endpoint into out.
func lambdaGet(t *testing.T, cfg aws.Config, path string, out any) {
	t.Helper()
	lambdaCall(t, cfg, http.MethodGet, path, nil, out)
}

// lambdaCall calls the Lambda REST API at cfg's endpoint: method on path,
// with in as its JSON body (nil: none), its answer read into out (nil:
// not read). The request is signed: moto tells the service by the
// signature's scope.
func lambdaCall(t *testing.T, cfg aws.Config, method, path string, in, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, aws.ToString(cfg.BaseEndpoint)+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", cfg.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 { // moto answers some reads 201
		t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, b)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, b)
	}
}

// disableEventSourceMappings switches off the emulator's event source
// mappings of a queue. moto invokes the function a mapping names on every
// send to its queue, and fails the send when that is a published version
// or an alias (moto 5.2 runs no version without Docker, and errs instead
// of reporting it): tests that send to a queue the modules map play the
// mapping themselves (runUnderPolicies) and switch moto's off.
func disableEventSourceMappings(t *testing.T, cfg aws.Config, queueARN string) {
	t.Helper()
	var mappings struct {
		EventSourceMappings []struct{ UUID, EventSourceArn string }
	}
	lambdaGet(t, cfg, "/2015-03-31/event-source-mappings/", &mappings)
	for _, m := range mappings.EventSourceMappings {
		if m.EventSourceArn == queueARN {
			lambdaCall(t, cfg, http.MethodPut, "/2015-03-31/event-source-mappings/"+m.UUID, map[string]any{"Enabled": false}, nil)
		}
	}
}

// checkTaskDefinition checks that a task definition revision is ACTIVE,
// tagged with its release and deployment, and that its container gets its
// release as DEPLOYER_RELEASE.
func checkTaskDefinition(t *testing.T, client *ecs.Client, arn, release, deployment string) {
	t.Helper()
	out, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatalf("describing %s: %v", arn, err)
	}
	if out.TaskDefinition.Status != ecstypes.TaskDefinitionStatusActive {
		t.Errorf("%s is %s, want ACTIVE", arn, out.TaskDefinition.Status)
	}
	tags := map[string]string{}
	for _, tag := range out.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["deployer:release"] != release || tags["deployer:deployment"] != deployment {
		t.Errorf("%s is tagged %v, want deployer:release=%s and deployer:deployment=%s", arn, tags, release, deployment)
	}
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		env := map[string]string{}
		for _, kv := range c.Environment {
			env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
		}
		if env["DEPLOYER_RELEASE"] != release {
			t.Errorf("%s: container %s has DEPLOYER_RELEASE=%q, want %q", arn, aws.ToString(c.Name), env["DEPLOYER_RELEASE"], release)
		}
	}
}
