package secret_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secretref"
)

// The Resolver's own behaviours, with an in-memory Fetcher. The Fetcher
// of the AWS SDK is tested, with a Resolver, in package awssecret.

// Values the fakes hold. No error may contain any of them.
const (
	smCurrent  = "sm-current-V4lue"
	dbUser     = "db-user-V4lue"
	dbPassword = "db-password-V4lue"
	dbJSON     = `{"username":"` + dbUser + `","password":"` + dbPassword + `","port":5432,"tls":{"mode":"verify-full"},"empty":null}`
	notJSON    = `not-json-V4lue {`
	ssmValue   = "ssm-V4lue"
	envValue   = "env-V4lue"
	fileValue  = "file-V4lue"
)

var allValues = []string{smCurrent, dbUser, dbPassword, dbJSON, notJSON, ssmValue, envValue, fileValue, "5432", "verify-full", "not-json"}

// noValue fails the test when err's text contains a value. Each of
// names (a temporary directory: never a value) is taken out of the text
// first, as its random digits may spell a value's.
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

// References of the fake's content.
const (
	smARN     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/token-AbCdEf"
	dbARN     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db/prod-AbCdEf"
	plainARN  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:plain-AbCdEf"
	nulARN    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nul-AbCdEf"
	deniedARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:denied-AbCdEf"
	brokenARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:broken-AbCdEf"
	ssmName   = "/ci/slack/url"
	ssmARN    = "arn:aws:ssm:ap-southeast-2:123456789012:parameter/ci/other"
)

// fakeAWS is a secret.Fetcher serving values by reference ID, whatever
// the region and version, and recording every call.
type fakeAWS struct {
	mu      sync.Mutex
	secrets map[string]string // Secrets Manager, by ID
	params  map[string]string // SSM, by ID
	errs    map[string]error  // by ID, answered instead of a value
	calls   []fakeCall
}

// fakeCall is one call the fake answered.
type fakeCall struct {
	Op  string
	Ref secretref.Reference
}

var _ secret.Fetcher = (*fakeAWS)(nil)

func newFakeAWS() *fakeAWS {
	return &fakeAWS{
		secrets: map[string]string{smARN: smCurrent, dbARN: dbJSON, "db/prod": dbJSON, plainARN: notJSON, nulARN: "a\x00b"},
		params:  map[string]string{ssmName: ssmValue, ssmARN: ssmValue},
		errs: map[string]error{
			deniedARN: fmt.Errorf("%w: AccessDeniedException: not authorized", secret.ErrDenied),
			brokenARN: errors.New("secretsmanager:GetSecretValue: connection refused"),
		},
	}
}

func (f *fakeAWS) GetSecretValue(_ context.Context, ref secretref.Reference) (string, error) {
	return f.get("GetSecretValue", f.secrets, ref)
}

func (f *fakeAWS) GetParameter(_ context.Context, ref secretref.Reference) (string, error) {
	return f.get("GetParameter", f.params, ref)
}

func (f *fakeAWS) get(op string, values map[string]string, ref secretref.Reference) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{Op: op, Ref: ref})
	if err := f.errs[ref.ID]; err != nil {
		return "", err
	}
	v, ok := values[ref.ID]
	if !ok {
		return "", fmt.Errorf("%w: ResourceNotFoundException", secret.ErrNotFound)
	}
	return v, nil
}

func (f *fakeAWS) callLog() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func resolver(f *fakeAWS) *secret.Resolver {
	r := &secret.Resolver{LookupEnv: lookup(map[string]string{"TOKEN": envValue, "EMPTY": ""})}
	if f != nil {
		r.AWS = f
	}
	return r
}

func TestResolve(t *testing.T) {
	f := newFakeAWS()
	r := resolver(f)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sm := func(id, region, key, stage, version string) *fakeCall {
		return &fakeCall{"GetSecretValue", secretref.Reference{Kind: secretref.KindSecretsManager, ID: id, Region: region, JSONKey: key, VersionStage: stage, VersionID: version}}
	}
	cases := []struct {
		name, ref, want string
		call            *fakeCall // the one call expected; none when nil
	}{
		{"secrets manager ARN", smARN, smCurrent, sm(smARN, "eu-west-1", "", "", "")},
		{"secrets manager name", "secretsmanager:db/prod", dbJSON, sm("db/prod", "", "", "", "")},
		{"version stage and id", smARN + "::AWSPENDING:c3c3", smCurrent, sm(smARN, "eu-west-1", "", "AWSPENDING", "c3c3")},
		{"json key", dbARN + ":password::", dbPassword, sm(dbARN, "us-east-1", "password", "", "")},
		{"json key by name", "secretsmanager:db/prod:username::", dbUser, sm("db/prod", "", "username", "", "")},
		{"json key of a number", dbARN + ":port::", "5432", sm(dbARN, "us-east-1", "port", "", "")},
		{"json key of an object", dbARN + ":tls::", `{"mode":"verify-full"}`, sm(dbARN, "us-east-1", "tls", "", "")},
		{"json key of null", dbARN + ":empty::", "null", sm(dbARN, "us-east-1", "empty", "", "")},
		{"json key and stage", dbARN + ":password:AWSCURRENT:", dbPassword, sm(dbARN, "us-east-1", "password", "AWSCURRENT", "")},
		{"ssm name", ssmName, ssmValue, &fakeCall{"GetParameter", secretref.Reference{Kind: secretref.KindSSM, ID: ssmName}}},
		{"ssm ARN", ssmARN, ssmValue, &fakeCall{"GetParameter", secretref.Reference{Kind: secretref.KindSSM, ID: ssmARN, Region: "ap-southeast-2"}}},
		{"env", "env:TOKEN", envValue, nil},
		{"env empty", "env:EMPTY", "", nil},
		{"file", "file:" + write("plain", fileValue), fileValue, nil},
		{"file one newline trimmed", "file:" + write("nl", fileValue+"\n\n"), fileValue + "\n", nil},
		{"file CRLF kept", "file:" + write("crlf", fileValue+"\r\n"), fileValue + "\r", nil},
		{"file empty", "file:" + write("empty", ""), "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.callLog())
			got, err := r.Resolve(context.Background(), c.ref)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", c.ref, err)
			}
			if got != c.want {
				t.Fatalf("Resolve(%q) = %q, want %q", c.ref, got, c.want)
			}
			calls := f.callLog()[before:]
			switch {
			case c.call == nil && len(calls) != 0:
				t.Fatalf("%s called AWS: %+v", c.ref, calls)
			case c.call != nil && (len(calls) != 1 || calls[0] != *c.call):
				t.Fatalf("calls %+v, want one %+v", calls, *c.call)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	r := resolver(newFakeAWS())
	dir := t.TempDir()
	nul := filepath.Join(dir, "nul")
	if err := os.WriteFile(nul, []byte(fileValue+"\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte(strings.Repeat("x", secret.MaxValueLen+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable")
	if err := os.WriteFile(unreadable, []byte(fileValue), 0o000); err != nil {
		t.Fatal(err)
	}
	canRead := false
	if f, err := os.Open(unreadable); err == nil { // root reads any mode
		_ = f.Close()
		canRead = true
	}
	cases := []struct {
		name, ref string
		is        error // nil: none of the sentinels
		mention   string
	}{
		{"fetched not found", "secretsmanager:nope", secret.ErrNotFound, "ResourceNotFoundException"},
		{"fetched denied", deniedARN, secret.ErrDenied, "AccessDeniedException"},
		{"fetch failed", brokenARN, nil, "connection refused"},
		{"fetched NUL", nulARN, nil, "NUL"},
		{"json key not found", dbARN + ":nope::", secret.ErrNotFound, `"nope"`},
		{"json key of a plain string", plainARN + ":password::", nil, "not a JSON object"},
		{"env unset", "env:NOPE", secret.ErrNotFound, "NOPE"},
		{"file missing", "file:" + filepath.Join(dir, "nope"), secret.ErrNotFound, "no such file"},
		{"file NUL", "file:" + nul, nil, "NUL"},
		{"file too long", "file:" + long, nil, "longer"},
		{"file is a directory", "file:" + dir, nil, "directory"},
		{"file unreadable", "file:" + unreadable, secret.ErrDenied, "permission denied"},
		{"pasted value", "hunter2-" + envValue, secret.ErrInvalid, "pasted"},
		{"malformed ARN", "arn:aws:secretsmanager:us-east-1:123:secret:" + smCurrent, secret.ErrInvalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "file unreadable" && canRead {
				t.Skip("this user reads files of mode 000")
			}
			got, err := r.Resolve(context.Background(), c.ref)
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want an error", c.ref, got)
			}
			noValue(t, err, dir)
			for _, s := range []error{secret.ErrNotFound, secret.ErrDenied, secret.ErrInvalid, secret.ErrNoAWS} {
				if want := errors.Is(c.is, s); errors.Is(err, s) != want {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !want)
				}
			}
			if errors.Is(c.is, secret.ErrInvalid) {
				if strings.Contains(err.Error(), c.ref) {
					t.Errorf("error %q repeats an invalid reference", err)
				}
			} else if !strings.Contains(err.Error(), c.ref) {
				t.Errorf("error %q does not name the reference %q", err, c.ref)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

// A Resolver without a Fetcher, as in the deployer binary, refuses the
// AWS references and resolves the others.
func TestNoAWS(t *testing.T) {
	r := resolver(nil)
	ctx := context.Background()
	for _, ref := range []string{smARN, "secretsmanager:db/prod", dbARN + ":password::", ssmName, ssmARN} {
		_, err := r.Resolve(ctx, ref)
		if !errors.Is(err, secret.ErrNoAWS) {
			t.Fatalf("Resolve(%q) without a Fetcher: %v, want ErrNoAWS", ref, err)
		}
		for _, s := range []error{secret.ErrNotFound, secret.ErrDenied, secret.ErrInvalid} {
			if errors.Is(err, s) {
				t.Errorf("Resolve(%q) without a Fetcher: %v is %v", ref, err, s)
			}
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "secret "+ref+": ") || !strings.Contains(msg, "AWS SDK") || !strings.Contains(msg, "awsclient.RunTaskProcess") {
			t.Errorf("Resolve(%q) without a Fetcher: %q does not name the reference and say how to get the SDK", ref, msg)
		}
	}

	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(fileValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := r.Environ(ctx, []string{"DEPLOYER_SECRET_A=env:TOKEN", "DEPLOYER_SECRET_B=file:" + file, "X=1"})
	if err != nil || !slices.Equal(env, []string{"X=1", "A=" + envValue, "B=" + fileValue}) {
		t.Fatalf("Environ of env: and file: without a Fetcher = %q, %v", env, err)
	}

	env, err = r.Environ(ctx, []string{"DEPLOYER_SECRET_A=env:TOKEN", "DEPLOYER_SECRET_DB=" + dbARN + ":password::", "DEPLOYER_SECRET_SLACK=" + ssmName})
	if env != nil || !errors.Is(err, secret.ErrNoAWS) {
		t.Fatalf("Environ with AWS references without a Fetcher = %q, %v", env, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "DEPLOYER_SECRET_DB: secret "+dbARN+":password::: ") ||
		!strings.HasPrefix(lines[1], "DEPLOYER_SECRET_SLACK: secret "+ssmName+": ") {
		t.Fatalf("Environ's errors:\n%s", err)
	}
}

func TestEnviron(t *testing.T) {
	f := newFakeAWS()
	r := resolver(f)
	in := []string{
		"PATH=/usr/bin",
		"DB_PASSWORD=stale",
		"DEPLOYER_SECRET_DB_PASSWORD=" + dbARN + ":password::",
		"DEPLOYER_SECRET_DB_USER=" + dbARN + ":username::",
		"HOME=/root",
		"DEPLOYER_SECRET_TOKEN=env:NOPE",
		"DEPLOYER_SECRET_TOKEN=env:TOKEN", // the last one counts
		"DEPLOYER_SECRET_SLACK=" + ssmName,
		"DB_PASSWORD=stale too",
		"DEPLOYER_JOB_ID=01J",
	}
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
	if got, err := r.Environ(context.Background(), []string{"A=1", "B"}); err != nil || !slices.Equal(got, []string{"A=1", "B"}) {
		t.Fatalf("Environ without secrets = %q, %v", got, err)
	}
}

// Environ reads each secret version or parameter once, whichever keys of
// it the variables name, failures included; the next Environ reads
// again.
func TestEnvironFetchesOnce(t *testing.T) {
	f := newFakeAWS()
	r := resolver(f)
	in := []string{
		"DEPLOYER_SECRET_DB_PASSWORD=" + dbARN + ":password::",
		"DEPLOYER_SECRET_DB_USER=" + dbARN + ":username::",
		"DEPLOYER_SECRET_DB_JSON=" + dbARN,
		"DEPLOYER_SECRET_SLACK=" + ssmName,
		"DEPLOYER_SECRET_SLACK_AGAIN=" + ssmName,
	}
	ops := func(calls []fakeCall) []string {
		var out []string
		for _, c := range calls {
			out = append(out, c.Op+" "+c.Ref.ID)
		}
		slices.Sort(out)
		return out
	}
	for i := range 2 {
		before := len(f.callLog())
		env, err := r.Environ(context.Background(), in)
		if err != nil || !slices.Equal(env, []string{"DB_JSON=" + dbJSON, "DB_PASSWORD=" + dbPassword, "DB_USER=" + dbUser, "SLACK=" + ssmValue, "SLACK_AGAIN=" + ssmValue}) {
			t.Fatalf("Environ = %q, %v", env, err)
		}
		if got, want := ops(f.callLog()[before:]), []string{"GetParameter " + ssmName, "GetSecretValue " + dbARN}; !slices.Equal(got, want) {
			t.Fatalf("Environ %d: calls %q, want %q", i+1, got, want)
		}
	}

	// Another version of one secret is another read.
	before := len(f.callLog())
	if _, err := r.Environ(context.Background(), []string{"DEPLOYER_SECRET_A=" + dbARN + ":password::", "DEPLOYER_SECRET_B=" + dbARN + ":password:AWSPREVIOUS:"}); err != nil {
		t.Fatal(err)
	}
	if calls := f.callLog()[before:]; len(calls) != 2 {
		t.Fatalf("two versions of one secret: calls %+v, want two", calls)
	}

	before = len(f.callLog())
	_, err := r.Environ(context.Background(), []string{"DEPLOYER_SECRET_A=" + deniedARN + ":a::", "DEPLOYER_SECRET_B=" + deniedARN + ":b::"})
	if !errors.Is(err, secret.ErrDenied) || strings.Count(err.Error(), "access denied") != 2 {
		t.Fatalf("two keys of a denied secret: %v", err)
	}
	if calls := f.callLog()[before:]; len(calls) != 1 {
		t.Fatalf("two keys of a denied secret: calls %+v, want one", calls)
	}
}

func TestEnvironErrors(t *testing.T) {
	r := resolver(newFakeAWS())
	in := []string{
		"DEPLOYER_SECRET_Z_DENIED=" + deniedARN,
		"DEPLOYER_SECRET_OK=env:TOKEN",
		"DEPLOYER_SECRET_A_MISSING=/ci/nope",
		"DEPLOYER_SECRET_1BAD=env:TOKEN",
		"DEPLOYER_SECRET_M_PASTED=" + smCurrent,
		"DEPLOYER_SECRET_B_KEY=" + dbARN + ":nope::",
		"DEPLOYER_SECRET_=env:TOKEN",
		"DEPLOYER_SECRET_DEPLOYER_SECRET_X=env:TOKEN",
	}
	var first string
	for range 3 {
		got, err := r.Environ(context.Background(), in)
		if err == nil || got != nil {
			t.Fatalf("Environ = %q, %v; want only an error", got, err)
		}
		noValue(t, err)
		if first == "" {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("errors in another order:\n%s\nthen\n%s", first, err)
		}
		if !errors.Is(err, secret.ErrNotFound) || !errors.Is(err, secret.ErrDenied) || !errors.Is(err, secret.ErrInvalid) {
			t.Fatalf("error %v is not all of ErrNotFound, ErrDenied, ErrInvalid", err)
		}
		slices.Reverse(in)
	}
	lines := strings.Split(first, "\n")
	want := []string{
		`"DEPLOYER_SECRET_": invalid secret reference`,
		`"DEPLOYER_SECRET_1BAD": invalid secret reference`,
		"DEPLOYER_SECRET_A_MISSING: secret /ci/nope: not found",
		"DEPLOYER_SECRET_B_KEY: secret " + dbARN + ":nope::: not found",
		"DEPLOYER_SECRET_DEPLOYER_SECRET_X: invalid secret reference",
		"DEPLOYER_SECRET_M_PASTED: secret reference must be",
		"DEPLOYER_SECRET_Z_DENIED: secret " + deniedARN + ": access denied",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d errors, want %d:\n%s", len(lines), len(want), first)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("error %d = %q, want it to start with %q", i, lines[i], want[i])
		}
	}
}
