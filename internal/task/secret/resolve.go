package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/schemas"
)

// Prefix is the prefix of the environment variables that carry secret
// references into a task: DEPLOYER_SECRET_<NAME>=<reference>.
const Prefix = "DEPLOYER_SECRET_"

// MaxValueLen is the longest value a file: reference may resolve to, in
// bytes: Linux refuses to start a program with a longer environment
// string (MAX_ARG_STRLEN).
const MaxValueLen = 128 << 10

// Errors of Resolve and Environ, tested with errors.Is.
var (
	// ErrInvalid is a reference (or variable name) of invalid syntax.
	ErrInvalid = errors.New("invalid secret reference")
	// ErrNotFound is a secret, version, parameter, JSON key, environment
	// variable or file that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDenied is a secret the task may not read: IAM or KMS refused,
	// or the file is not readable.
	ErrDenied = errors.New("access denied")
)

// AWS error codes of the sentinel errors.
var (
	notFoundCodes = []string{"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"}
	deniedCodes   = []string{"AccessDeniedException", "AccessDenied", "DecryptionFailure", "KMSAccessDeniedException"}
)

// SecretsManagerClient is what the Resolver calls of
// *secretsmanager.Client.
type SecretsManagerClient interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SSMClient is what the Resolver calls of *ssm.Client.
type SSMClient interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Resolver resolves secret references to their values. Its zero value is
// ready to use; it is safe for concurrent use.
type Resolver struct {
	// SecretsManager serves every Secrets Manager reference when set
	// (tests), with the call's region set to an ARN's region. Nil creates
	// one client per region, the first time a reference needs it, from
	// the AWS configuration (awsx.Load with AWS).
	SecretsManager SecretsManagerClient
	// SSM serves every SSM parameter reference, as SecretsManager does.
	SSM SSMClient
	// AWS tunes how the AWS configuration is loaded: the default
	// credential chain, AWS_ENDPOINT_URL and the per-service variables
	// (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM), awsx's
	// retry policy. AWS.Region, when set, replaces the default region of
	// references that carry none; an ARN's region always wins.
	AWS awsx.Options
	// LookupEnv looks up the variable of an env: reference. Defaults to
	// os.LookupEnv: the environment of the process resolving.
	LookupEnv func(name string) (string, bool)

	mu      sync.Mutex
	configs map[string]aws.Config // by region, "" for the default one
	sm      map[string]SecretsManagerClient
	ssm     map[string]SSMClient
}

// Resolve returns the value ref refers to. Errors are ErrInvalid,
// ErrNotFound, ErrDenied or another failure (AWS unreachable, throttled
// past the retries, a binary secret, a value with a NUL byte); they name
// the reference when it is valid, and never contain a value.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, error) {
	return r.resolve(ctx, ref, nil)
}

// Environ returns environ with every DEPLOYER_SECRET_<NAME>=<reference>
// removed and NAME=<value> added in place of any NAME already there
// (appended in the order of the names). NAME must be letters, digits and
// '_', not starting with a digit. When a variable appears more than once
// the last one counts, as in os/exec. Every failure is reported at once,
// in the order of the names, each naming its variable and reference and
// none a value; environ is then not returned. A secret read twice (two
// JSON keys of one secret) is fetched once.
func (r *Resolver) Environ(ctx context.Context, environ []string) ([]string, error) {
	refs := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, Prefix); ok {
			refs[name] = v
		}
	}
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)

	cache := map[fetchKey]fetched{}
	values := make(map[string]string, len(names))
	var errs []error
	for _, name := range names {
		if !schemas.ValidEnvName(name) {
			errs = append(errs, fmt.Errorf("%q: %w: the name after %s must be letters, digits and '_', not starting with a digit", Prefix+name, ErrInvalid, Prefix))
			continue
		}
		if strings.HasPrefix(name, Prefix) {
			errs = append(errs, fmt.Errorf("%s%s: %w: a secret's name may not start with %s", Prefix, name, ErrInvalid, Prefix))
			continue
		}
		v, err := r.resolve(ctx, refs[name], cache)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", Prefix, name, err))
			continue
		}
		values[name] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, secret := values[k]; secret || strings.HasPrefix(k, Prefix) {
			continue
		}
		out = append(out, kv)
	}
	for _, name := range names {
		out = append(out, name+"="+values[name])
	}
	return out, nil
}

// fetchKey identifies one backend read, for Environ to read each once.
type fetchKey struct {
	kind                         kind
	id, region, stage, versionID string
}

type fetched struct {
	value string
	err   error
}

// resolve resolves ref, reading the backends through cache when it is
// not nil.
func (r *Resolver) resolve(ctx context.Context, ref string, cache map[fetchKey]fetched) (string, error) {
	p, err := parse(ref)
	if err != nil {
		return "", err // names nothing: ref may be a value
	}
	var v string
	switch p.kind {
	case kindEnv:
		v, err = r.env(p.id)
	case kindFile:
		v, err = readFile(p.id)
	default:
		key := fetchKey{kind: p.kind, id: p.id, region: p.region, stage: p.versionStage, versionID: p.versionID}
		f, ok := cache[key]
		if !ok {
			if p.kind == kindSSM {
				f.value, f.err = r.getParameter(ctx, p)
			} else {
				f.value, f.err = r.getSecretValue(ctx, p)
			}
			if cache != nil {
				cache[key] = f
			}
		}
		v, err = f.value, f.err
		if err == nil && p.jsonKey != "" {
			v, err = jsonKey(v, p.jsonKey)
		}
	}
	if err == nil && strings.ContainsRune(v, 0) {
		err = errors.New("the value contains a NUL byte")
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", ref, err)
	}
	return v, nil
}

func (r *Resolver) env(name string) (string, error) {
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("%w: environment variable %s is not set", ErrNotFound, name)
	}
	return v, nil
}

// readFile returns the contents of the file at path with one trailing
// newline trimmed. Its errors do not repeat the path: the reference
// names it.
func readFile(path string) (string, error) {
	f, err := os.Open(path) //nolint:gosec // a configured secret file
	if err != nil {
		return "", fileError(err)
	}
	defer func() { _ = f.Close() }()
	// A value at the limit, its newline, and one byte more to tell.
	b, err := io.ReadAll(io.LimitReader(f, MaxValueLen+2))
	if err != nil {
		return "", fileError(err)
	}
	if strings.ContainsRune(string(b), 0) {
		return "", errors.New("the file contains a NUL byte")
	}
	v := strings.TrimSuffix(string(b), "\n")
	if len(v) > MaxValueLen {
		return "", fmt.Errorf("the file is longer than %d bytes", MaxValueLen)
	}
	return v, nil
}

func fileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", ErrDenied, err)
	}
	return fmt.Errorf("reading the file: %w", err)
}

func (r *Resolver) getSecretValue(ctx context.Context, p reference) (string, error) {
	c, opts, err := r.secretsManager(ctx, p.region)
	if err != nil {
		return "", err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.id)}
	if p.versionStage != "" {
		in.VersionStage = aws.String(p.versionStage)
	}
	if p.versionID != "" {
		in.VersionId = aws.String(p.versionID)
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

func (r *Resolver) getParameter(ctx context.Context, p reference) (string, error) {
	c, opts, err := r.ssmClient(ctx, p.region)
	if err != nil {
		return "", err
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.id), WithDecryption: aws.Bool(true)}, opts...)
	if err != nil {
		return "", awsError(ctx, "ssm:GetParameter", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", errors.New("ssm:GetParameter answered no value")
	}
	return *out.Parameter.Value, nil
}

// jsonKey returns the value of key in s, a JSON object: a string's
// value, or the JSON text of any other value. Its errors never contain
// s, nor JSON decoding errors, which quote it.
func jsonKey(s, key string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return "", fmt.Errorf("the secret is not a JSON object, so it has no key %q", key)
	}
	raw, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("%w: the secret's JSON object has no key %q", ErrNotFound, key)
	}
	if len(raw) > 0 && raw[0] == '"' {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("the secret's key %q holds an undecodable string", key)
		}
		return v, nil
	}
	return string(raw), nil
}

// awsError translates an SDK error into the package's errors.
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
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case awsx.HasCode(err, deniedCodes...):
		return fmt.Errorf("%w: %w", ErrDenied, err)
	}
	return err
}

// secretsManager returns the Secrets Manager client of region ("" for
// the default one) and the options of a call to it.
func (r *Resolver) secretsManager(ctx context.Context, region string) (SecretsManagerClient, []func(*secretsmanager.Options), error) {
	if r.SecretsManager != nil {
		if region == "" {
			return r.SecretsManager, nil, nil
		}
		return r.SecretsManager, []func(*secretsmanager.Options){func(o *secretsmanager.Options) { o.Region = region }}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.sm[region]; c != nil {
		return c, nil, nil
	}
	cfg, err := r.config(ctx, region)
	if err != nil {
		return nil, nil, err
	}
	c := secretsmanager.NewFromConfig(cfg)
	if r.sm == nil {
		r.sm = map[string]SecretsManagerClient{}
	}
	r.sm[region] = c
	return c, nil, nil
}

// ssmClient is secretsManager for SSM.
func (r *Resolver) ssmClient(ctx context.Context, region string) (SSMClient, []func(*ssm.Options), error) {
	if r.SSM != nil {
		if region == "" {
			return r.SSM, nil, nil
		}
		return r.SSM, []func(*ssm.Options){func(o *ssm.Options) { o.Region = region }}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.ssm[region]; c != nil {
		return c, nil, nil
	}
	cfg, err := r.config(ctx, region)
	if err != nil {
		return nil, nil, err
	}
	c := ssm.NewFromConfig(cfg)
	if r.ssm == nil {
		r.ssm = map[string]SSMClient{}
	}
	r.ssm[region] = c
	return c, nil, nil
}

// config returns the AWS configuration of region ("" for the default
// one), loading it the first time. r.mu is held.
func (r *Resolver) config(ctx context.Context, region string) (aws.Config, error) {
	if cfg, ok := r.configs[region]; ok {
		return cfg, nil
	}
	o := r.AWS
	if region != "" {
		o.Region = region
	}
	cfg, err := awsx.Load(ctx, o)
	if err != nil {
		return aws.Config{}, err
	}
	if r.configs == nil {
		r.configs = map[string]aws.Config{}
	}
	r.configs[region] = cfg
	return cfg, nil
}
