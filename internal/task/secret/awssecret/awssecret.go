package awssecret

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secretref"
)

var _ secret.Fetcher = (*Fetcher)(nil)

// AWS error codes of the sentinel errors.
var (
	notFoundCodes = []string{"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"}
	deniedCodes   = []string{"AccessDeniedException", "AccessDenied", "DecryptionFailure", "KMSAccessDeniedException"}
)

// SecretsManagerClient is what the Fetcher calls of
// *secretsmanager.Client.
type SecretsManagerClient interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SSMClient is what the Fetcher calls of *ssm.Client.
type SSMClient interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Fetcher reads Secrets Manager secrets and SSM parameters for a
// secret.Resolver. Its zero value is ready to use; it is safe for
// concurrent use.
type Fetcher struct {
	// SecretsManager serves every Secrets Manager reference when set
	// (tests), with the call's region set to an ARN's region. Nil creates
	// one client per region, the first time a reference needs it, from
	// the AWS configuration (awsx.Load with Config).
	SecretsManager SecretsManagerClient
	// SSM serves every SSM parameter reference, as SecretsManager does.
	SSM SSMClient
	// Config tunes how the AWS configuration is loaded: the default
	// credential chain, AWS_ENDPOINT_URL and the per-service variables
	// (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM), awsx's
	// retry policy. Config.Region, when set, replaces the default region
	// of references that carry none; an ARN's region always wins.
	Config awsx.Options

	mu      sync.Mutex
	configs map[string]aws.Config // by region, "" for the default one
	sm      map[string]SecretsManagerClient
	ssm     map[string]SSMClient
}

// GetSecretValue returns the SecretString of the secret ref names, at
// its version stage and version id; see secret.Fetcher.
func (f *Fetcher) GetSecretValue(ctx context.Context, ref secretref.Reference) (string, error) {
	c, opts, err := f.secretsManager(ctx, ref.Region)
	if err != nil {
		return "", err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.ID)}
	if ref.VersionStage != "" {
		in.VersionStage = aws.String(ref.VersionStage)
	}
	if ref.VersionID != "" {
		in.VersionId = aws.String(ref.VersionID)
	}
	out, err := c.GetSecretValue(ctx, in, opts...)
	if err != nil {
		return "", awsError(ctx, "secretsmanager:GetSecretValue", err)
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no SecretString (binary secrets are not supported)")
	}
	return *out.SecretString, nil
}

// GetParameter returns the decrypted value of the parameter ref names;
// see secret.Fetcher.
func (f *Fetcher) GetParameter(ctx context.Context, ref secretref.Reference) (string, error) {
	c, opts, err := f.ssmClient(ctx, ref.Region)
	if err != nil {
		return "", err
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref.ID), WithDecryption: aws.Bool(true)}, opts...)
	if err != nil {
		return "", awsError(ctx, "ssm:GetParameter", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", errors.New("ssm:GetParameter answered no value")
	}
	return *out.Parameter.Value, nil
}

// awsError translates an SDK error into package secret's errors.
// Deserialization errors lose their cause: it may quote the answer, and
// the answer holds the value.
func awsError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%s: %w: %w", op, ctx.Err(), err)
	}
	var de *smithy.DeserializationError
	switch {
	case errors.As(err, &de):
		return fmt.Errorf("%s: the answer could not be decoded", op)
	case awsx.HasCode(err, notFoundCodes...):
		return fmt.Errorf("%w: %w", secret.ErrNotFound, err)
	case awsx.HasCode(err, deniedCodes...):
		return fmt.Errorf("%w: %w", secret.ErrDenied, err)
	}
	return err
}

// secretsManager returns the Secrets Manager client of region ("" for
// the default one) and the options of a call to it.
func (f *Fetcher) secretsManager(ctx context.Context, region string) (SecretsManagerClient, []func(*secretsmanager.Options), error) {
	if f.SecretsManager != nil {
		if region == "" {
			return f.SecretsManager, nil, nil
		}
		return f.SecretsManager, []func(*secretsmanager.Options){func(o *secretsmanager.Options) { o.Region = region }}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.sm[region]; c != nil {
		return c, nil, nil
	}
	cfg, err := f.config(ctx, region)
	if err != nil {
		return nil, nil, err
	}
	c := secretsmanager.NewFromConfig(cfg)
	if f.sm == nil {
		f.sm = map[string]SecretsManagerClient{}
	}
	f.sm[region] = c
	return c, nil, nil
}

// ssmClient is secretsManager for SSM.
func (f *Fetcher) ssmClient(ctx context.Context, region string) (SSMClient, []func(*ssm.Options), error) {
	if f.SSM != nil {
		if region == "" {
			return f.SSM, nil, nil
		}
		return f.SSM, []func(*ssm.Options){func(o *ssm.Options) { o.Region = region }}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.ssm[region]; c != nil {
		return c, nil, nil
	}
	cfg, err := f.config(ctx, region)
	if err != nil {
		return nil, nil, err
	}
	c := ssm.NewFromConfig(cfg)
	if f.ssm == nil {
		f.ssm = map[string]SSMClient{}
	}
	f.ssm[region] = c
	return c, nil, nil
}

// config returns the AWS configuration of region ("" for the default
// one), loading it the first time. f.mu is held.
func (f *Fetcher) config(ctx context.Context, region string) (aws.Config, error) {
	if cfg, ok := f.configs[region]; ok {
		return cfg, nil
	}
	o := f.Config
	if region != "" {
		o.Region = region
	}
	cfg, err := awsx.Load(ctx, o)
	if err != nil {
		return aws.Config{}, err
	}
	if f.configs == nil {
		f.configs = map[string]aws.Config{}
	}
	f.configs[region] = cfg
	return cfg, nil
}
