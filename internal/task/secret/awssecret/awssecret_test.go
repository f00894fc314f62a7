package awssecret_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
)

// These tests run a secret.Resolver with a Fetcher whose clients speak
// HTTP to an in-memory Secrets Manager and SSM (fake_test.go), so that
// the SDK's real serializers and error deserializers are part of what
// they check. The Resolver's own behaviours (env:, file:, syntax) are
// package secret's tests.

// Values the fake holds. No error may contain any of them.
const (
	smCurrent  = "sm-current-V4lue"
	smPrevious = "sm-previous-V4lue"
	smPending  = "sm-pending-V4lue"
	dbUser     = "db-user-V4lue"
	dbPassword = "db-password-V4lue"
	dbJSON     = `{"username":"` + dbUser + `","password":"` + dbPassword + `","port":5432,"tls":{"mode":"verify-full"},"empty":null}`
	notJSON    = `not-json-V4lue {`
	ssmValue   = "ssm-V4lue"
	ssmARNV    = "ssm-arn-V4lue"
	envValue   = "env-V4lue"
	fileValue  = "file-V4lue"
)

var allValues = []string{smCurrent, smPrevious, smPending, dbUser, dbPassword, dbJSON, notJSON, ssmValue, ssmARNV, envValue, fileValue, "5432", "verify-full", "not-json"}

// noValue fails the test when err's text contains a value. Each of
// names (a temporary directory, a random prefix: never a value) is taken
// out of the text first, as its random digits may spell a value's.
func noValue(t *testing.T, err error, names ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, n := range names {
		msg = strings.ReplaceAll(msg, n, "NAME")
	}
	for _, v := range allValues {
		if strings.Contains(msg, v) {
			t.Errorf("error %q contains the value %q", err, v)
		}
	}
}

// world is the fake's content and the references to it.
type world struct {
	fake                               *fake
	arn, partialARN, dbARN, notJSONARN string
	binaryARN, deniedARN               string
	ssmName, ssmARN, deniedParam       string
}

const (
	versionPrevious = "a1a1a1a1-1111-4111-8111-111111111111"
	versionCurrent  = "b2b2b2b2-2222-4222-8222-222222222222"
	versionPending  = "c3c3c3c3-3333-4333-8333-333333333333"
)

func newWorld() *world {
	f := newFake()
	w := &world{fake: f}
	w.arn = f.addSecret("eu-west-1", "ci/token",
		fakeVersion{id: versionPrevious, stages: []string{"AWSPREVIOUS"}, str: aws.String(smPrevious)},
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, str: aws.String(smCurrent)},
		fakeVersion{id: versionPending, stages: []string{"AWSPENDING"}, str: aws.String(smPending)},
	)
	w.partialARN = strings.TrimSuffix(w.arn, "-AbCdEf")
	f.addSecret("us-east-1", "ci/token",
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, str: aws.String(smCurrent)})
	w.dbARN = f.addSecret("us-east-1", "db/prod",
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, str: aws.String(dbJSON)})
	w.notJSONARN = f.addSecret("us-east-1", "plain",
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, str: aws.String(notJSON)})
	w.binaryARN = f.addSecret("us-east-1", "binary",
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, binary: []byte(smCurrent)})
	w.deniedARN = f.addSecret("us-east-1", "denied",
		fakeVersion{id: versionCurrent, stages: []string{"AWSCURRENT"}, str: aws.String(smCurrent)})
	f.deny(w.deniedARN)
	w.ssmName = "/ci/slack/url"
	f.addParam("us-east-1", w.ssmName, ssmValue)
	w.ssmARN = f.addParam("ap-southeast-2", "/ci/other", ssmARNV)
	w.deniedParam = "/ci/kms-denied"
	f.addParam("us-east-1", w.deniedParam, ssmValue)
	f.deny(w.deniedParam)
	return w
}

// resolver returns a Resolver whose clients speak to the world's fake
// over HTTP, with region us-east-1 by default.
func (w *world) resolver(t *testing.T) *secret.Resolver {
	cfg := awstest.Config(t, w.fake.start(t), nil)
	return &secret.Resolver{
		AWS: &awssecret.Fetcher{
			SecretsManager: secretsmanager.NewFromConfig(cfg),
			SSM:            ssm.NewFromConfig(cfg),
		},
		LookupEnv: lookup(map[string]string{"TOKEN": envValue, "EMPTY": ""}),
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestResolve(t *testing.T) {
	w := newWorld()
	r := w.resolver(t)
	cases := []struct {
		name, ref, want string
		call            *fakeCall // the one call expected, if any
	}{
		{"secrets manager ARN", w.arn, smCurrent, &fakeCall{"GetSecretValue", "eu-west-1", w.arn}},
		{"secrets manager partial ARN", w.partialARN, smCurrent, &fakeCall{"GetSecretValue", "eu-west-1", w.partialARN}},
		{"secrets manager name", "secretsmanager:ci/token", smCurrent, &fakeCall{"GetSecretValue", "us-east-1", "ci/token"}},
		{"empty suffix", w.arn + ":::", smCurrent, &fakeCall{"GetSecretValue", "eu-west-1", w.arn}},
		{"version stage", w.arn + "::AWSPREVIOUS:", smPrevious, &fakeCall{"GetSecretValue", "eu-west-1", w.arn}},
		{"version id", w.arn + ":::" + versionPending, smPending, nil},
		{"version stage and id", w.arn + "::AWSPENDING:" + versionPending, smPending, nil},
		{"json key", w.dbARN + ":password::", dbPassword, nil},
		{"json key by name", "secretsmanager:db/prod:username::", dbUser, nil},
		{"json key of a number", w.dbARN + ":port::", "5432", nil},
		{"json key of an object", w.dbARN + ":tls::", `{"mode":"verify-full"}`, nil},
		{"json key of null", w.dbARN + ":empty::", "null", nil},
		{"json key and stage", w.dbARN + ":password:AWSCURRENT:", dbPassword, nil},
		{"ssm name", w.ssmName, ssmValue, &fakeCall{"GetParameter", "us-east-1", w.ssmName}},
		{"ssm ARN", w.ssmARN, ssmARNV, &fakeCall{"GetParameter", "ap-southeast-2", w.ssmARN}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(w.fake.callLog())
			got, err := r.Resolve(context.Background(), c.ref)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", c.ref, err)
			}
			if got != c.want {
				t.Fatalf("Resolve(%q) = %q, want %q", c.ref, got, c.want)
			}
			calls := w.fake.callLog()[before:]
			if c.call != nil && (len(calls) != 1 || calls[0] != *c.call) {
				t.Fatalf("calls %+v, want one %+v", calls, *c.call)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	w := newWorld()
	r := w.resolver(t)
	cases := []struct {
		name, ref string
		is        error // nil: none of the sentinels
		mention   string
	}{
		{"secret not found", "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", secret.ErrNotFound, "ResourceNotFoundException"},
		{"secret in another region", strings.Replace(w.arn, "eu-west-1", "eu-west-2", 1), secret.ErrNotFound, ""},
		{"name not found", "secretsmanager:nope", secret.ErrNotFound, ""},
		{"stage not found", "secretsmanager:ci/token::AWSPREVIOUS:", secret.ErrNotFound, "staging label"},
		{"version id not found", w.arn + ":::d4d4d4d4-4444-4444-8444-444444444444", secret.ErrNotFound, "VersionId"},
		{"json key not found", w.dbARN + ":nope::", secret.ErrNotFound, `"nope"`},
		{"json key of a plain string", w.notJSONARN + ":password::", nil, "not a JSON object"},
		{"binary secret", w.binaryARN, nil, "SecretString"},
		{"secret denied", w.deniedARN, secret.ErrDenied, "AccessDeniedException"},
		{"parameter not found", "/ci/nope", secret.ErrNotFound, "ParameterNotFound"},
		{"parameter ARN not found", "arn:aws:ssm:us-east-1:123456789012:parameter/ci/nope", secret.ErrNotFound, ""},
		{"parameter KMS denied", w.deniedParam, secret.ErrDenied, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), c.ref)
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want an error", c.ref, got)
			}
			noValue(t, err)
			for _, s := range []error{secret.ErrNotFound, secret.ErrDenied, secret.ErrInvalid, secret.ErrNoAWS} {
				if want := errors.Is(c.is, s); errors.Is(err, s) != want {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !want)
				}
			}
			if !strings.Contains(err.Error(), c.ref) {
				t.Errorf("error %q does not name the reference %q", err, c.ref)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

func TestResolveCancelled(t *testing.T) {
	w := newWorld()
	r := w.resolver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Resolve(ctx, w.arn)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve with a cancelled context: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	w := newWorld()
	r := w.resolver(t)
	in := []string{
		"PATH=/usr/bin",
		"DB_PASSWORD=stale",
		"DEPLOYER_SECRET_DB_PASSWORD=" + w.dbARN + ":password::",
		"DEPLOYER_SECRET_DB_USER=" + w.dbARN + ":username::",
		"HOME=/root",
		"DEPLOYER_SECRET_TOKEN=env:NOPE",
		"DEPLOYER_SECRET_TOKEN=env:TOKEN", // the last one counts
		"DEPLOYER_SECRET_SLACK=" + w.ssmName,
		"DB_PASSWORD=stale too",
		"DEPLOYER_JOB_ID=01J",
	}
	before := len(w.fake.callLog())
	got, err := r.Environ(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PATH=/usr/bin",
		"HOME=/root",
		"DEPLOYER_JOB_ID=01J",
		"DB_PASSWORD=" + dbPassword,
		"DB_USER=" + dbUser,
		"SLACK=" + ssmValue,
		"TOKEN=" + envValue,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Environ:\n got %q\nwant %q", got, want)
	}
	// Two keys of one secret: one read.
	if calls := w.fake.callLog()[before:]; len(calls) != 2 {
		t.Fatalf("calls %+v, want one GetSecretValue and one GetParameter", calls)
	}
	if got, err := r.Environ(context.Background(), []string{"A=1", "B"}); err != nil || !slices.Equal(got, []string{"A=1", "B"}) {
		t.Fatalf("Environ without secrets = %q, %v", got, err)
	}
}

// The AWS clients come from the environment's configuration, and only
// when a reference needs one.
func TestLazyClientsFromTheEnvironment(t *testing.T) {
	w := newWorld()
	smURL := w.fake.start(t)
	other := newFake()
	other.addParam("us-east-1", "/elsewhere", ssmValue)
	ssmURL := other.start(t)
	nowhere := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached AWS_ENDPOINT_URL: %s", r.Header.Get("X-Amz-Target"))
		rw.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(nowhere.Close)

	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_ENDPOINT_URL", nowhere.URL)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", smURL)
	t.Setenv("AWS_ENDPOINT_URL_SSM", ssmURL)
	t.Setenv("DEPLOYER_TEST_TOKEN", envValue)
	r := &secret.Resolver{AWS: &awssecret.Fetcher{Config: awsx.Options{Retry: awsx.RetryPolicy{MaxAttempts: 1}}}}
	ctx := context.Background()

	// No region anywhere: env: and file: need no AWS configuration.
	if v, err := r.Resolve(ctx, "env:DEPLOYER_TEST_TOKEN"); err != nil || v != envValue {
		t.Fatalf("env: without AWS configuration = %q, %v", v, err)
	}
	// A name needs the default region.
	if _, err := r.Resolve(ctx, "/elsewhere"); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Fatalf("an SSM name without a region: %v", err)
	}
	// An ARN carries its own.
	if v, err := r.Resolve(ctx, w.arn); err != nil || v != smCurrent {
		t.Fatalf("ARN without a default region = %q, %v", v, err)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	for ref, want := range map[string]string{
		"secretsmanager:ci/token": smCurrent,
		w.dbARN + ":username::":   dbUser,
		"/elsewhere":              ssmValue,
	} {
		if v, err := r.Resolve(ctx, ref); err != nil || v != want {
			t.Fatalf("Resolve(%q) = %q, %v", ref, v, err)
		}
	}
	var regions []string
	for _, c := range w.fake.callLog() {
		regions = append(regions, c.Region)
	}
	if !slices.Equal(regions, []string{"eu-west-1", "us-east-1", "us-east-1"}) {
		t.Fatalf("Secrets Manager calls signed for %q", regions)
	}
	if calls := other.callLog(); len(calls) != 1 || calls[0].Region != "us-east-1" {
		t.Fatalf("SSM calls %+v", calls)
	}
}

// isolate hides the machine's AWS configuration from the test.
func isolate(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// A Resolver may be shared, its clients created by whichever call comes
// first.
func TestConcurrentUse(t *testing.T) {
	w := newWorld()
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL", w.fake.start(t))
	r := &secret.Resolver{AWS: &awssecret.Fetcher{Config: awsx.Options{
		Region:            "us-east-1",
		StaticCredentials: &awsx.Credentials{AccessKeyID: "AKIDTESTTESTTESTTEST", SecretAccessKey: "test-secret"},
	}}}
	refs := map[string]string{w.arn: smCurrent, "secretsmanager:ci/token": smCurrent, w.ssmName: ssmValue, w.ssmARN: ssmARNV}
	done := make(chan error)
	n := 0
	for range 4 {
		for ref, want := range refs {
			n++
			go func() {
				v, err := r.Resolve(context.Background(), ref)
				if err == nil && v != want {
					err = fmt.Errorf("Resolve(%q) = %q, want %q", ref, v, want)
				}
				done <- err
			}()
		}
	}
	timeout := time.After(time.Minute)
	for range n {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			t.Fatal("Resolve did not return")
		}
	}
}
