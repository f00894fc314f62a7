package secretref

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the hand-written checks of ref.go replace; the
// checks must agree with them on every input.
var refForms = []struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool
}{
	{"secretsManagerARN", regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$`), isSecretsManagerARN},
	{"secretsManagerName", regexp.MustCompile(`^secretsmanager:[A-Za-z0-9/_+=.@-]{1,512}(:[^:]*:[^:]*:[^:]*)?$`), isSecretsManagerName},
	{"ssmARN", regexp.MustCompile(`^arn:aws[a-z-]*:ssm:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+$`), isSSMARN},
	{"ssmName", regexp.MustCompile(`^/[A-Za-z0-9/_.-]+$`), isSSMName},
}

// refFormSeeds are near misses of every form: each piece too short, too
// long, empty, or with a byte out of its class.
var refFormSeeds = []string{
	"", ":", "arn", "arn:", "/", "//", "_", "1", "a", "A1_", "1A", "A-B", "é", "\xff", "\n",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:a:b:c",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:a:b",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:a:b:c:d",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:x:\n:\xff:é",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("n", 512),
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("n", 513),
	"arn:aws:secretsmanager:us-east-1:12345678901:secret:x",
	"arn:aws:secretsmanager:us-east-1:1234567890123:secret:x",
	"arn:aws:secretsmanager:us-east-:123456789012:secret:x",
	"arn:aws:secretsmanager:us--east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-1:123456789012:secret:x",
	"arn:aws:secretsmanager:use-east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:u-east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:-us-east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-gov-west-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-East-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-east-1a:123456789012:secret:x",
	"arn:aws-us-gov:secretsmanager:us-east-1:123456789012:secret:x",
	"arn:aws-:secretsmanager:us-east-1:123456789012:secret:x",
	"arn:aw:secretsmanager:us-east-1:123456789012:secret:x",
	"arn:awsX:secretsmanager:us-east-1:123456789012:secret:x",
	"arn:aws:secretsmanager:us-east-1:123456789012:secrets:x",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:a+b=c.d@e_f-g/h",
	"arn:aws:secretsmanager:us-east-1:123456789012:secret:a b",
	"arn:aws:ssm:eu-west-1:123456789012:parameter/ci/slack/url",
	"arn:aws:ssm:eu-west-1:123456789012:parameter/",
	"arn:aws:ssm:eu-west-1:123456789012:parameter",
	"arn:aws:ssm:eu-west-1:123456789012:parameter/a b",
	"arn:aws:ssm:eu-west-1:123456789012:parameter/a:b",
	"arn:aws:ssm:eu-west-1:123456789012:parameter//",
	"secretsmanager:x", "secretsmanager:", "secretsmanager:x:a:b:c", "secretsmanager:x:a:b", "secretsmanager:x:a:b:c:d",
	"secretsmanager:" + strings.Repeat("n", 512), "secretsmanager:" + strings.Repeat("n", 513), "secretsmanager:a=b+c@d",
	"/ci/slack/url", "/x", "/a b", "/a:b", "/a\n", "x/",
}

func TestRefFormsMatchTheirExpressions(t *testing.T) {
	for _, s := range refFormSeeds {
		for _, f := range refForms {
			if got, want := f.check(s), f.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the expression says %v", f.name, s, got, want)
			}
		}
	}
}

// FuzzRefForms: each hand-written check agrees with the expression it
// replaces.
func FuzzRefForms(f *testing.F) {
	for _, s := range refFormSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, f := range refForms {
			if got, want := f.check(s), f.re.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, the expression says %v", f.name, s, got, want)
			}
		}
	})
}
