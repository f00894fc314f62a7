package secret

import (
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prefixes of the reference forms that are not ARNs or SSM parameter
// names.
const (
	EnvPrefix            = "env:"
	FilePrefix           = "file:"
	SecretsManagerPrefix = "secretsmanager:"
)

// MaxRefLen is the longest reference Check accepts, in bytes.
const MaxRefLen = 2048

var (
	secretsManagerARN  = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$`)
	secretsManagerName = regexp.MustCompile(`^secretsmanager:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$`)
	ssmARN             = regexp.MustCompile(`^arn:aws[a-z-]*:ssm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+$`)
	ssmName            = regexp.MustCompile(`^/[A-Za-z0-9/_.-]+$`)
	envName            = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

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
	_, err := parse(ref)
	return err
}

// kind is the form of a reference.
type kind int

const (
	kindSecretsManager kind = iota + 1
	kindSSM
	kindEnv
	kindFile
)

// reference is a parsed secret reference.
type reference struct {
	kind kind
	// id is what the backend is asked for: the SecretId (the ARN without
	// its suffix, or the name) of Secrets Manager, the Name (name or ARN)
	// of SSM, the variable of env:, the path of file:.
	id string
	// region is an ARN's region; "" for the default region.
	region string
	// jsonKey, versionStage and versionID are a Secrets Manager
	// reference's optional suffix; "" where absent or empty.
	jsonKey, versionStage, versionID string
}

func parse(ref string) (reference, error) {
	if len(ref) > MaxRefLen {
		return reference{}, errTooLong
	}
	switch {
	case strings.HasPrefix(ref, "arn:"):
		switch {
		case secretsManagerARN.MatchString(ref):
			// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[:KEY:STAGE:ID]
			parts := strings.Split(ref, ":")
			r := reference{kind: kindSecretsManager, id: strings.Join(parts[:7], ":"), region: parts[3]}
			return r, r.suffix(parts[7:])
		case ssmARN.MatchString(ref):
			return reference{kind: kindSSM, id: ref, region: strings.Split(ref, ":")[3]}, nil
		}
		return reference{}, errARN
	case strings.HasPrefix(ref, SecretsManagerPrefix):
		if !secretsManagerName.MatchString(ref) {
			return reference{}, errSMName
		}
		parts := strings.Split(ref, ":")
		r := reference{kind: kindSecretsManager, id: parts[1]}
		return r, r.suffix(parts[2:])
	case strings.HasPrefix(ref, "/"):
		if ssmName.MatchString(ref) && !strings.Contains(ref, "//") {
			return reference{kind: kindSSM, id: ref}, nil
		}
		return reference{}, errSSMName
	case strings.HasPrefix(ref, EnvPrefix):
		name := ref[len(EnvPrefix):]
		if envName.MatchString(name) {
			return reference{kind: kindEnv, id: name}, nil
		}
		return reference{}, errEnvName
	case strings.HasPrefix(ref, FilePrefix):
		p := ref[len(FilePrefix):]
		if filepath.IsAbs(p) && filepath.Clean(p) == p && printable(p) {
			return reference{kind: kindFile, id: p}, nil
		}
		return reference{}, errFilePath
	}
	return reference{}, errNoneKnown
}

// suffix sets the :JSON_KEY:VERSION_STAGE:VERSION_ID fields of a Secrets
// Manager reference from the parts after its name (none or three).
func (r *reference) suffix(parts []string) error {
	if len(parts) == 0 {
		return nil
	}
	for _, p := range parts {
		if !printable(p) {
			return errSuffix
		}
	}
	r.jsonKey, r.versionStage, r.versionID = parts[0], parts[1], parts[2]
	return nil
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
