package awssecret_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
)

// TestExternal resolves references against the endpoint named by
// DEPLOYER_TEST_AWS_ENDPOINT (moto in CI): a second implementation of
// Secrets Manager and SSM checks what the fake says.
func TestExternal(t *testing.T) {
	endpoint := awstest.Endpoint(t, "secretsmanager")
	awstest.Endpoint(t, "ssm")
	ctx := context.Background()
	cfg := awstest.Config(t, endpoint, nil)
	sm := secretsmanager.NewFromConfig(cfg)
	ps := ssm.NewFromConfig(cfg)
	prefix := fmt.Sprintf("deployer-test/%d", time.Now().UnixNano())

	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(prefix + "/db"), SecretString: aws.String(dbJSON)})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: created.ARN, SecretString: aws.String(`{"password":"` + smCurrent + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	param := "/" + prefix + "/slack"
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String(ssmValue), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	got, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
	if err != nil {
		t.Fatal(err)
	}
	paramARN := aws.ToString(got.Parameter.ARN)

	r := &secret.Resolver{AWS: &awssecret.Fetcher{SecretsManager: sm, SSM: ps}}
	for ref, want := range map[string]string{
		*created.ARN + ":password::":                      smCurrent,
		"secretsmanager:" + prefix + "/db:password::":     smCurrent,
		*created.ARN + ":password:AWSPREVIOUS:":           dbPassword,
		*created.ARN + ":username::" + *created.VersionId: dbUser,
		*created.ARN + ":password::" + *rotated.VersionId: smCurrent,
		"secretsmanager:" + prefix + "/db::AWSPREVIOUS:":  dbJSON,
		param:    ssmValue,
		paramARN: ssmValue,
	} {
		v, err := r.Resolve(ctx, ref)
		if err != nil || v != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, v, err, want)
		}
	}

	for _, ref := range []string{
		"secretsmanager:" + prefix + "/nope",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:" + prefix + "/nope-AbCdEf",
		*created.ARN + ":nope::",
		"/" + prefix + "/nope",
	} {
		_, err := r.Resolve(ctx, ref)
		if !errors.Is(err, secret.ErrNotFound) {
			t.Errorf("Resolve(%q): %v, want ErrNotFound", ref, err)
		}
		noValue(t, err, prefix)
	}

	// Clients of the Resolver's own making find the endpoint in
	// AWS_ENDPOINT_URL.
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	r = &secret.Resolver{AWS: &awssecret.Fetcher{Config: awsx.Options{
		Region:            "us-east-1",
		StaticCredentials: &awsx.Credentials{AccessKeyID: "AKIDTESTTESTTESTTEST", SecretAccessKey: "test-secret"},
	}}}
	env, err := r.Environ(ctx, []string{"DEPLOYER_SECRET_DB_USER=" + *created.ARN + ":username:AWSPREVIOUS:", "DEPLOYER_SECRET_SLACK=" + param, "X=1"})
	if err != nil || !slices.Equal(env, []string{"X=1", "DB_USER=" + dbUser, "SLACK=" + ssmValue}) {
		t.Fatalf("Environ = %q, %v", env, err)
	}
}
