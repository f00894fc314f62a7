package test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/backend/backendtest"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
)

// The Backend conformance suite against both backends, each deployment's
// pipelines being "deployer up" processes that the suite may SIGKILL.

// suiteVisibility is the pipelines' --visibility: how long the job of a
// pipeline the suite kills stays hidden before another pipeline adopts it.
// With the default (30s) each suite would spend half a minute waiting.
const suiteVisibility = "3s"

// suitePoll is the AWS pipelines' --poll: the worker sees an ECS task's end
// by describing it every --poll (2s by default), which would be most of
// each scenario's time.
const suitePoll = "250ms"

// upPipeline is a "deployer up" process.
type upPipeline struct{ p *proc }

func (u upPipeline) Kill() {
	_ = u.p.cmd.Process.Kill()
	<-u.p.done
}

func startUp(t *testing.T, e *env, args ...string) backendtest.Pipeline {
	t.Helper()
	p := e.start(append([]string{"up"}, args...)...)
	p.stderr.waitFor(t, regexp.MustCompile(`deployer: serving`), time.Minute)
	return upPipeline{p}
}

func suiteConfig(container string) string {
	return strings.ReplaceAll(backendtest.Config, "CONTAINER", container)
}

func TestBackendSuiteEmbedded(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Features{}, func(t *testing.T) backendtest.Harness {
		e := newEnv(t, suiteConfig("local: {scripts_dir: SCRIPTS}"), backendtest.Scripts)
		b, err := embedded.Open(t.Context(), e.state, embedded.Options{Sender: factory.CurrentUser()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return backendtest.Harness{Backend: b, Pipeline: func(t *testing.T) backendtest.Pipeline { return startUp(t, e, "--visibility", suiteVisibility) }}
	})
}

// TestBackendSuiteAWS: the deployment is the AWS fakes, whose ECS tasks run
// the suite's scripts through deployer-task; its pipelines are "deployer up
// --provision" (gatekeeper, worker and in-process logshipper); the caller
// signs as the CI role the pipeline knows. With DEPLOYER_TEST_AWS_ENDPOINT
// set (CI's moto), SQS, CloudWatch Logs and DynamoDB are the emulator's and
// only ECS is the fakes'.
func TestBackendSuiteAWS(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, backendtest.Features{}, func(t *testing.T) backendtest.Harness {
		e := newEnv(t, suiteConfig("task_definition: deployer"), backendtest.Scripts)
		prefix := fmt.Sprintf("bs%d-", time.Now().UnixNano()%1_000_000_000)
		flags := []string{"-task-entrypoint", deployerTaskBin, "-task-log-group", "/" + prefix + "tasks"}
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
			// moto reports one SenderId for every caller: map it to the CI role.
			e.extraEnv = append(e.extraEnv, fmt.Sprintf(`DEPLOYER_PRINCIPALS={%q: "arn:aws:iam::123456789012:role/ci-deployer"}`, motoSenderID(t, e, prefix)))
		}
		cfg, err := awsx.Load(t.Context(), awsx.Options{
			Region:            "us-east-1",
			HTTPClient:        &http.Client{Timeout: time.Minute},
			StaticCredentials: &awsx.Credentials{AccessKeyID: "AROACIROLE", SecretAccessKey: "test"},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.BaseEndpoint = aws.String(endpoint)
		b, err := awsbackend.NewWithConfig(cfg, awsbackend.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := b.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return backendtest.Harness{Backend: b, Pipeline: func(t *testing.T) backendtest.Pipeline {
			return startUp(t, e, "--provision", "--visibility", suiteVisibility, "--poll", suitePoll)
		}}
	})
}
