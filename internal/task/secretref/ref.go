package secretref

import (
	"errors"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// VarPrefix is the prefix of the environment variables that carry secret
// references into a task: DEPLOYER_SECRET_<NAME>=<reference>.
const VarPrefix = "DEPLOYER_SECRET_"

// Prefixes of the reference forms that are not ARNs or SSM parameter
// names.
const (
	EnvPrefix            = "env:"
	FilePrefix           = "file:"
	SecretsManagerPrefix = "secretsmanager:"
)

// MaxRefLen is the longest reference Check accepts, in bytes.
const MaxRefLen = 2048

// ErrInvalid is a secret reference of invalid syntax: every error of
// Check and Parse is ErrInvalid, tested with errors.Is.
var ErrInvalid = errors.New("invalid secret reference")

// The errors of Check. They are constant: none repeats any part of the
// reference, which may be a value pasted by mistake.
var (
	errTooLong   = invalidError("secret reference is too long (over 2048 bytes)")
	errARN       = invalidError("secret reference is not a valid Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)")
	errSMName    = invalidError("secret reference secretsmanager:NAME must name a secret (letters, digits and '/', '_', '+', '=', '.', '@', '-'), optionally followed by :JSON_KEY:VERSION_STAGE:VERSION_ID")
	errSuffix    = invalidError("secret reference's :JSON_KEY:VERSION_STAGE:VERSION_ID must not contain control characters or invalid UTF-8")
	errSSMName   = invalidError("secret reference is not a valid SSM parameter name (/path/name of letters, digits, '/', '_', '.', '-')")
	errEnvName   = invalidError("secret reference env:NAME must name an environment variable (letters, digits and '_')")
	errFilePath  = invalidError("secret reference file:PATH must name an absolute, clean path")
	errNoneKnown = invalidError("secret reference must be a Secrets Manager or SSM parameter ARN, secretsmanager:NAME, an SSM parameter name starting with '/', env:NAME or file:/absolute/path (looks like a value was pasted instead of a reference?)")
)

// invalidError is a syntax error of a reference; it is ErrInvalid.
type invalidError string

func (e invalidError) Error() string { return string(e) }

// Is makes every syntax error ErrInvalid.
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

// Check validates the syntax of a secret reference; its errors are
// ErrInvalid. It never repeats the reference, in full or in part: a value
// pasted by mistake must not end up in logs.
func Check(ref string) error {
	_, err := Parse(ref)
	return err
}

// Kind is the form of a reference, which says where its value is read.
type Kind int

// The kinds of references.
const (
	// KindSecretsManager is a Secrets Manager ARN or secretsmanager:NAME.
	KindSecretsManager Kind = iota + 1
	// KindSSM is an SSM parameter ARN or /NAME.
	KindSSM
	// KindEnv is env:NAME.
	KindEnv
	// KindFile is file:/absolute/path.
	KindFile
)

// Reference is a parsed secret reference.
type Reference struct {
	Kind Kind
	// ID is what the backend is asked for: the SecretId (the ARN without
	// its suffix, or the name) of Secrets Manager, the Name (name or ARN)
	// of SSM, the variable of env:, the path of file:.
	ID string
	// Region is an ARN's region; "" for the default region.
	Region string
	// JSONKey, VersionStage and VersionID are a Secrets Manager
	// reference's optional suffix; "" where absent or empty.
	JSONKey, VersionStage, VersionID string
}

// ReadsAWS reports whether ref is read from AWS: a Secrets Manager secret
// or an SSM parameter, which only a program with the AWS SDK can read.
// A reference of invalid syntax reads nothing.
func ReadsAWS(ref string) bool {
	r, err := Parse(ref)
	return err == nil && (r.Kind == KindSecretsManager || r.Kind == KindSSM)
}

// Parse parses a secret reference. Its errors are Check's (ErrInvalid,
// repeating no part of ref), with the zero Reference.
func Parse(ref string) (Reference, error) {
	if len(ref) > MaxRefLen {
		return Reference{}, errTooLong
	}
	switch {
	case strings.HasPrefix(ref, "arn:"):
		switch {
		case isSecretsManagerARN(ref):
			// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[:KEY:STAGE:ID]
			parts := strings.Split(ref, ":")
			r := Reference{Kind: KindSecretsManager, ID: strings.Join(parts[:7], ":"), Region: parts[3]}
			return r.withSuffix(parts[7:])
		case isSSMARN(ref):
			return Reference{Kind: KindSSM, ID: ref, Region: strings.Split(ref, ":")[3]}, nil
		}
		return Reference{}, errARN
	case strings.HasPrefix(ref, SecretsManagerPrefix):
		if !isSecretsManagerName(ref) {
			return Reference{}, errSMName
		}
		parts := strings.Split(ref, ":")
		r := Reference{Kind: KindSecretsManager, ID: parts[1]}
		return r.withSuffix(parts[2:])
	case strings.HasPrefix(ref, "/"):
		if isSSMName(ref) && !strings.Contains(ref, "//") {
			return Reference{Kind: KindSSM, ID: ref}, nil
		}
		return Reference{}, errSSMName
	case strings.HasPrefix(ref, EnvPrefix):
		name := ref[len(EnvPrefix):]
		if schemas.ValidEnvName(name) {
			return Reference{Kind: KindEnv, ID: name}, nil
		}
		return Reference{}, errEnvName
	case strings.HasPrefix(ref, FilePrefix):
		p := ref[len(FilePrefix):]
		if filepath.IsAbs(p) && filepath.Clean(p) == p && printable(p) {
			return Reference{Kind: KindFile, ID: p}, nil
		}
		return Reference{}, errFilePath
	}
	return Reference{}, errNoneKnown
}

// withSuffix returns r, a Secrets Manager reference, with its
// :JSON_KEY:VERSION_STAGE:VERSION_ID fields set from the parts after its
// name (none or three).
func (r Reference) withSuffix(parts []string) (Reference, error) {
	if len(parts) == 0 {
		return r, nil
	}
	for _, p := range parts {
		if !printable(p) {
			return Reference{}, errSuffix
		}
	}
	r.JSONKey, r.VersionStage, r.VersionID = parts[0], parts[1], parts[2]
	return r, nil
}

// printable reports whether s is valid UTF-8 without control characters
// (tab aside) or line separators.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c != '\t' && unicode.IsControl(c) || c == 0x2028 || c == 0x2029 {
			return false
		}
	}
	return true
}

// The forms below are checked by hand rather than with regular
// expressions: the {1,512} of a secret name compiles to a program of
// thousands of instructions, which every deployer process (this package is
// linked into all of them) would build at start-up. Each function states
// the expression it is equivalent to; ref_internal_test.go fuzzes them
// against it.

// isSecretsManagerARN is
// ^arn:aws[a-z-]*:secretsmanager:REGION:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$
// (REGION as in isRegion).
func isSecretsManagerARN(s string) bool {
	p := strings.Split(s, ":")
	return (len(p) == 7 || len(p) == 10) && p[0] == "arn" && isPartition(p[1]) &&
		p[2] == "secretsmanager" && isRegion(p[3]) && isAccount(p[4]) &&
		p[5] == "secret" && isSecretName(p[6])
}

// isSSMARN is
// ^arn:aws[a-z-]*:ssm:REGION:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+$.
func isSSMARN(s string) bool {
	p := strings.Split(s, ":")
	if len(p) != 6 || p[0] != "arn" || !isPartition(p[1]) || p[2] != "ssm" || !isRegion(p[3]) || !isAccount(p[4]) {
		return false
	}
	name, ok := strings.CutPrefix(p[5], "parameter/")
	return ok && name != "" && all(name, isParamByte)
}

// isSecretsManagerName is
// ^secretsmanager:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$.
func isSecretsManagerName(s string) bool {
	p := strings.Split(s, ":")
	return (len(p) == 2 || len(p) == 5) && p[0] == "secretsmanager" && isSecretName(p[1])
}

// isSSMName is ^/[A-Za-z0-9/_.-]+$.
func isSSMName(s string) bool {
	return len(s) > 1 && s[0] == '/' && all(s, isParamByte)
}

// isPartition is aws[a-z-]*.
func isPartition(s string) bool {
	rest, ok := strings.CutPrefix(s, "aws")
	return ok && all(rest, func(c byte) bool { return isLower(c) || c == '-' })
}

// isRegion is [a-z]{2}(-[a-z]+)+-[0-9]+: two letters, one or more words
// of letters, a number, joined by '-'.
func isRegion(s string) bool {
	p := strings.Split(s, "-")
	if len(p) < 3 || len(p[0]) != 2 || !all(p[0], isLower) {
		return false
	}
	for _, w := range p[1 : len(p)-1] {
		if w == "" || !all(w, isLower) {
			return false
		}
	}
	n := p[len(p)-1]
	return n != "" && all(n, isDigit)
}

// isAccount is [0-9]{12}.
func isAccount(s string) bool { return len(s) == 12 && all(s, isDigit) }

// isSecretName is [A-Za-z0-9/_+=.@-]{1,512}.
func isSecretName(s string) bool {
	return len(s) >= 1 && len(s) <= 512 && all(s, func(c byte) bool {
		return isAlnum(c) || strings.IndexByte("/_+=.@-", c) >= 0
	})
}

// isParamByte is [A-Za-z0-9/_.-], the bytes of an SSM parameter name.
func isParamByte(c byte) bool { return isAlnum(c) || strings.IndexByte("/_.-", c) >= 0 }

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || c >= 'A' && c <= 'Z' || isDigit(c) }

// all reports whether every byte of s is ok. The classes above are all
// ASCII, so checking bytes is checking characters: no byte of a multibyte
// UTF-8 sequence (nor an invalid one) is ASCII.
func all(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
