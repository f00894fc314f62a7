package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// callerSet is a compiled allowed_callers list. A nil *callerSet allows
// anyone (the list was absent); an empty one allows nobody.
type callerSet struct {
	anyone   bool
	patterns []callerPattern
	source   []string
}

type callerPattern struct {
	re *regexp.Regexp
	// roleRE matches the role ARN an assumed-role session stands for
	// ("arn:PART:iam::ACCOUNT:role/NAME", without a path, which session
	// ARNs do not carry); nil when the pattern cannot be checked that way.
	roleRE *regexp.Regexp
}

func compileCallerPattern(p string) (callerPattern, error) {
	if p == "*" {
		return callerPattern{re: regexp.MustCompile(`^.+$`), roleRE: regexp.MustCompile(`^.+$`)}, nil
	}
	if badChar(p) != "" || strings.ContainsAny(p, " \t") {
		return callerPattern{}, fmt.Errorf("caller pattern %s contains white space or a control character", quote(p))
	}
	switch {
	case strings.HasPrefix(p, "user:"):
		if len(p) == len("user:") {
			return callerPattern{}, fmt.Errorf("caller pattern %s names no user", quote(p))
		}
		return callerPattern{re: globRE(p, false)}, nil
	case strings.HasPrefix(p, "schedule:"):
		if len(p) == len("schedule:") {
			return callerPattern{}, fmt.Errorf("caller pattern %s names no schedule", quote(p))
		}
		return callerPattern{re: globRE(p, false)}, nil
	case strings.HasPrefix(p, "arn:"):
		parts := strings.SplitN(p, ":", 6)
		if len(parts) < 6 || parts[1] == "" || parts[2] == "" || parts[5] == "" {
			return callerPattern{}, fmt.Errorf("caller pattern %s is not an ARN of the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE", quote(p))
		}
		cp := callerPattern{re: globRE(p, true)}
		if (parts[2] == "iam" || parts[2] == "*") && strings.HasPrefix(parts[5], "role/") {
			res := strings.TrimPrefix(parts[5], "role/")
			name := res
			hasPath := false
			if i := strings.LastIndexByte(res, '/'); i >= 0 {
				name, hasPath = res[i+1:], true
			}
			// Role names are unique in an account whatever their path, so
			// a literal name identifies the role even when the session ARN
			// does not say its path; a name glob under a path does not.
			if !hasPath || !strings.ContainsAny(name, "*?") {
				cp.roleRE = globRE(strings.Join([]string{"arn", parts[1], "iam", "", parts[4], "role/" + name}, ":"), true)
			}
		}
		return cp, nil
	default:
		return callerPattern{}, fmt.Errorf("caller pattern %s must be \"*\", \"user:NAME\", \"schedule:NAME\" or an ARN (arn:aws:iam::ACCOUNT:role/NAME)", quote(p))
	}
}

// globRE compiles a glob: '*' matches any run of characters (except ':'
// in ARNs, whose segments it must not cross), '?' one character.
func globRE(glob string, arn bool) *regexp.Regexp {
	star, one := `.*`, `.`
	if arn {
		star, one = `[^:]*`, `[^:]`
	}
	var b strings.Builder
	b.WriteString(`^`)
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(star)
		case '?':
			b.WriteString(one)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// allows reports whether the principal matches a pattern.
func (cs *callerSet) allows(principal string) bool {
	if cs == nil {
		return true
	}
	if cs.anyone {
		return true
	}
	role := assumedRoleARN(principal)
	for _, p := range cs.patterns {
		if p.re.MatchString(principal) {
			return true
		}
		if role != "" && p.roleRE != nil && p.roleRE.MatchString(role) {
			return true
		}
	}
	return false
}

// assumedRoleARN returns "arn:PART:iam::ACCOUNT:role/ROLE" for an STS
// assumed-role session ARN ("arn:PART:sts::ACCOUNT:assumed-role/ROLE/
// SESSION"), or "".
func assumedRoleARN(principal string) string {
	if !strings.HasPrefix(principal, "arn:") {
		return ""
	}
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || parts[3] != "" || parts[4] == "" {
		return ""
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return ""
	}
	role, session, ok := strings.Cut(rest, "/")
	if !ok || role == "" || session == "" {
		return ""
	}
	return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
}

func (cs *callerSet) describe() string {
	if cs == nil {
		return "any caller"
	}
	return list(cs.source, "none")
}
