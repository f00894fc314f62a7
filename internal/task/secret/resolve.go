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

	"github.com/deployerhq/deployer/internal/task/secretref"
	"github.com/deployerhq/deployer/schemas"
)

// MaxValueLen is the longest value a file: reference may resolve to, in
// bytes: Linux refuses to start a program with a longer environment
// string (MAX_ARG_STRLEN).
const MaxValueLen = 128 << 10

// Errors of Resolve and Environ, tested with errors.Is.
var (
	// ErrInvalid is a reference (or variable name) of invalid syntax. It
	// is secretref.ErrInvalid: secretref.Check's errors are ErrInvalid.
	ErrInvalid = secretref.ErrInvalid
	// ErrNotFound is a secret, version, parameter, JSON key, environment
	// variable or file that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDenied is a secret the task may not read: IAM or KMS refused,
	// or the file is not readable.
	ErrDenied = errors.New("access denied")
	// ErrNoAWS is a Secrets Manager or SSM reference resolved by a
	// Resolver without a Fetcher (Resolver.AWS): the program was built
	// without the AWS SDK.
	ErrNoAWS = errors.New("this program leaves the AWS SDK out and cannot read Secrets Manager or SSM: " +
		"a Go program serving with package client calls awsclient.RunTaskProcess instead of client.RunTaskProcess")
)

// Fetcher reads the values of Secrets Manager and SSM references for a
// Resolver, which applies their JSON key: the port through which this
// package reaches AWS without linking the AWS SDK (awssecret.Fetcher is
// the adapter). Its methods are safe for concurrent use. Their errors
// wrap ErrNotFound or ErrDenied when AWS says so, never contain a value,
// and need not name the reference, which the Resolver adds.
type Fetcher interface {
	// GetSecretValue returns the SecretString of the Secrets Manager
	// secret ref names (ref.ID, in ref.Region, or the default region when
	// it is ""), at ref.VersionStage and ref.VersionID (AWSCURRENT when
	// both are ""). It ignores ref.JSONKey.
	GetSecretValue(ctx context.Context, ref secretref.Reference) (string, error)
	// GetParameter returns the value, decrypted, of the SSM parameter ref
	// names (ref.ID, a name or an ARN, in ref.Region, or the default
	// region when it is "").
	GetParameter(ctx context.Context, ref secretref.Reference) (string, error)
}

// Resolver resolves secret references to their values. Its zero value is
// ready to use, without AWS; it is safe for concurrent use.
type Resolver struct {
	// AWS reads the Secrets Manager and SSM references. Nil fails them
	// with ErrNoAWS; env: and file: references need nothing.
	AWS Fetcher
	// LookupEnv looks up the variable of an env: reference. Defaults to
	// os.LookupEnv: the environment of the process resolving.
	LookupEnv func(name string) (string, bool)
}

// Resolve returns the value ref refers to. Errors are ErrInvalid,
// ErrNotFound, ErrDenied, ErrNoAWS or another failure (AWS unreachable,
// throttled past the retries, a binary secret, a value with a NUL byte);
// they name the reference when it is valid, and never contain a value.
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
		if name, ok := strings.CutPrefix(k, secretref.VarPrefix); ok {
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
			errs = append(errs, fmt.Errorf("%q: %w: the name after %s must be letters, digits and '_', not starting with a digit", secretref.VarPrefix+name, ErrInvalid, secretref.VarPrefix))
			continue
		}
		if strings.HasPrefix(name, secretref.VarPrefix) {
			errs = append(errs, fmt.Errorf("%s%s: %w: a secret's name may not start with %s", secretref.VarPrefix, name, ErrInvalid, secretref.VarPrefix))
			continue
		}
		v, err := r.resolve(ctx, refs[name], cache)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", secretref.VarPrefix, name, err))
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
		if _, secret := values[k]; secret || strings.HasPrefix(k, secretref.VarPrefix) {
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
	kind                         secretref.Kind
	id, region, stage, versionID string
}

type fetched struct {
	value string
	err   error
}

// resolve resolves ref, reading the backends through cache when it is
// not nil.
func (r *Resolver) resolve(ctx context.Context, ref string, cache map[fetchKey]fetched) (string, error) {
	p, err := secretref.Parse(ref)
	if err != nil {
		return "", err // names nothing: ref may be a value
	}
	var v string
	switch p.Kind {
	case secretref.KindEnv:
		v, err = r.env(p.ID)
	case secretref.KindFile:
		v, err = readFile(p.ID)
	default:
		key := fetchKey{kind: p.Kind, id: p.ID, region: p.Region, stage: p.VersionStage, versionID: p.VersionID}
		f, ok := cache[key]
		if !ok {
			f.value, f.err = r.fetch(ctx, p)
			if cache != nil {
				cache[key] = f
			}
		}
		v, err = f.value, f.err
		if err == nil && p.JSONKey != "" {
			v, err = jsonKey(v, p.JSONKey)
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

// fetch reads the value of p, a Secrets Manager or SSM reference,
// through r.AWS.
func (r *Resolver) fetch(ctx context.Context, p secretref.Reference) (string, error) {
	switch {
	case r.AWS == nil:
		return "", ErrNoAWS
	case p.Kind == secretref.KindSSM:
		return r.AWS.GetParameter(ctx, p)
	}
	return r.AWS.GetSecretValue(ctx, p)
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
