package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	secretsManagerARN = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$`)
	ssmARN            = regexp.MustCompile(`^arn:aws[a-z-]*:ssm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+$`)
	ssmName           = regexp.MustCompile(`^/[A-Za-z0-9/_.-]+$`)
	envVarName        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checkSecretRef validates the syntax of a secret reference. It never
// repeats the reference in full: a value pasted by mistake must not end up
// in logs.
func checkSecretRef(ref string) error {
	switch {
	case strings.HasPrefix(ref, "arn:"):
		if secretsManagerARN.MatchString(ref) || ssmARN.MatchString(ref) {
			return nil
		}
		return fmt.Errorf("secret reference is not a valid Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)")
	case strings.HasPrefix(ref, "/"):
		if ssmName.MatchString(ref) && !strings.Contains(ref, "//") {
			return nil
		}
		return fmt.Errorf("secret reference is not a valid SSM parameter name (/path/name of letters, digits, '/', '_', '.', '-')")
	case strings.HasPrefix(ref, "env:"):
		if envVarName.MatchString(ref[len("env:"):]) {
			return nil
		}
		return fmt.Errorf("secret reference env:NAME must name an environment variable (letters, digits and '_')")
	case strings.HasPrefix(ref, "file:"):
		p := ref[len("file:"):]
		if filepath.IsAbs(p) && filepath.Clean(p) == p && badChar(p) == "" {
			return nil
		}
		return fmt.Errorf("secret reference file:PATH must name an absolute, clean path")
	default:
		return fmt.Errorf("secret reference must be a Secrets Manager or SSM parameter ARN, an SSM parameter name starting with '/', env:NAME or file:/absolute/path (looks like a value was pasted instead of a reference?)")
	}
}
