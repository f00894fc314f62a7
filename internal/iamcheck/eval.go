package iamcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Request is what a principal asks IAM for: an action on a resource,
// with the condition keys the request carries.
type Request struct {
	// Action is "service:Operation", compared case-insensitively.
	Action string
	// Resource is the ARN acted on, compared case-sensitively. A '*' or
	// '?' in it stands for every resource it matches ("…:deployer-job-*",
	// every job stream), within a name (they match no ':'): the request
	// is allowed only if each of them is.
	Resource string
	// Context holds the request's condition keys ("ecs:cluster" → the
	// cluster's ARN); names compare case-insensitively. A key of the
	// action's own service that Context lacks is absent from the request,
	// as IAM sees it; any other key it lacks (aws:SourceIp, …) is
	// unknown, and a statement that depends on one cannot be decided.
	Context map[string]string
}

// Decision is the outcome of an evaluation.
type Decision int

// The outcomes, as IAM's evaluation logic defines them, plus Undecided.
const (
	// ImplicitDeny: no statement allows the request.
	ImplicitDeny Decision = iota
	// Allowed: a statement allows it and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement applies; it wins over every Allow.
	ExplicitDeny
	// Undecided: the outcome depends on a condition or a policy variable
	// this evaluator cannot know (aws:SourceIp, ${aws:username}, a
	// ForAllValues set, a Numeric or Date operator).
	Undecided
)

func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicitly denied"
	case Undecided:
		return "undecided"
	default:
		return "not allowed"
	}
}

// Result is a Decision and what made it.
type Result struct {
	Decision Decision
	// Policy and Statement name the statement that decided: the Allow
	// or Deny that applies, or the one that could not be decided. Both
	// are empty for ImplicitDeny. Statement is the Sid, or "#N" (1-based)
	// when the statement has none.
	Policy, Statement string
	// Reason says it in one sentence.
	Reason string
}

// Evaluate decides r against a principal's identity policies the way IAM
// does: allowed when some Allow statement applies and no Deny statement
// does; an explicit Deny wins over every Allow. A statement applies when
// its Action (or NotAction), its Resource (or NotResource) and every
// condition hold. With a pattern as r.Resource, an Allow applies only
// when it covers every resource of the pattern, and a Deny as soon as it
// touches one. Evaluation is conservative where it cannot be exact: what
// it cannot decide never grants (Undecided, never Allowed), and an Allow
// spread over several statements for parts of a pattern is not added up.
func Evaluate(r Request, policies ...Policy) Result {
	if r.Action == "" || r.Resource == "" {
		return Result{Decision: ImplicitDeny, Reason: "a request needs an action and a resource"}
	}
	var allow, maybeAllow, maybeDeny *Result
	for _, p := range policies {
		for i, st := range p.Statements {
			if !st.actionMatches(r.Action) {
				continue
			}
			t := and(st.resourceApplies(r.Resource), st.conditionsHold(r))
			if t == no {
				continue
			}
			at := Result{Policy: p.Name, Statement: statementName(i, st.Sid)}
			switch {
			case st.Effect == Deny && t == yes:
				at.Decision = ExplicitDeny
				at.Reason = fmt.Sprintf("denied by statement %s%s", at.Statement, of(p.Name))
				return at
			case st.Effect == Deny && maybeDeny == nil:
				at.Decision = Undecided
				at.Reason = fmt.Sprintf("statement %s%s denies it under a condition or policy variable this check cannot evaluate", at.Statement, of(p.Name))
				maybeDeny = &at
			case st.Effect == Allow && t == yes && allow == nil:
				at.Decision = Allowed
				at.Reason = fmt.Sprintf("allowed by statement %s%s", at.Statement, of(p.Name))
				allow = &at
			case st.Effect == Allow && t == unknown && maybeAllow == nil:
				at.Decision = Undecided
				at.Reason = fmt.Sprintf("statement %s%s allows it only under a condition or policy variable this check cannot evaluate", at.Statement, of(p.Name))
				maybeAllow = &at
			}
		}
	}
	switch {
	case allow != nil && maybeDeny != nil:
		return *maybeDeny
	case allow != nil:
		return *allow
	case maybeAllow != nil:
		return *maybeAllow
	default:
		return Result{Decision: ImplicitDeny, Reason: "no statement allows it"}
	}
}

func of(policy string) string {
	if policy == "" {
		return ""
	}
	return " of " + policy
}

// tri is a three-valued truth: conditions this evaluator cannot know are
// unknown.
type tri int8

const (
	no tri = iota
	yes
	unknown
)

func and(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == unknown || b == unknown:
		return unknown
	default:
		return yes
	}
}

func truth(b bool) tri {
	if b {
		return yes
	}
	return no
}

func (st Statement) actionMatches(action string) bool {
	a := lower(action)
	match := func(p string) bool { return matchGlob(lower(p), a) }
	if st.NotActions != nil {
		return !slices.ContainsFunc(st.NotActions, match)
	}
	return slices.ContainsFunc(st.Actions, match)
}

// resourceApplies reports whether the statement applies to res: for an
// Allow, to every resource res matches; for a Deny, to at least one.
func (st Statement) resourceApplies(res string) tri {
	every := st.Effect == Allow
	// Whether pattern p selects res (Resource) or leaves it (NotResource).
	hits := func(patterns []string, all bool) tri {
		t := no
		for _, p := range patterns {
			switch {
			case strings.Contains(p, "${"):
				t = unknown
			case all && includes(p, res), !all && intersects(p, res):
				return yes
			}
		}
		return t
	}
	if st.NotResources != nil {
		// Allow: no NotResource may touch res; Deny: some resource of res
		// must escape every NotResource.
		switch hits(st.NotResources, !every) {
		case yes:
			return no
		case unknown:
			return unknown
		default:
			return yes
		}
	}
	return hits(st.Resources, every)
}

func (st Statement) conditionsHold(r Request) tri {
	t := yes
	for _, c := range st.Conditions {
		t = and(t, c.holds(r))
		if t == no {
			return no
		}
	}
	return t
}

// negated are the operators that hold when the key is absent.
var negated = map[string]bool{
	"StringNotEquals": true, "StringNotEqualsIgnoreCase": true, "StringNotLike": true,
	"NumericNotEquals": true, "DateNotEquals": true, "NotIpAddress": true,
	"ArnNotEquals": true, "ArnNotLike": true,
}

// positive are the other operators IAM defines: false when the key is
// absent.
var positive = map[string]bool{
	"StringEquals": true, "StringEqualsIgnoreCase": true, "StringLike": true,
	"NumericEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "BinaryEquals": true, "IpAddress": true, "ArnEquals": true, "ArnLike": true,
}

// holds evaluates the condition on the request's context, as IAM does:
// several values of one key are alternatives (any may match), and of a
// negated operator all must fail to match; an absent key fails every
// operator but the negated ones, ...IfExists and Null.
func (c Condition) holds(r Request) tri {
	op := c.Operator
	if strings.HasPrefix(op, "ForAnyValue:") || strings.HasPrefix(op, "ForAllValues:") {
		return unknown // set operators: the keys here are single-valued
	}
	base, ifExists := strings.CutSuffix(op, "IfExists")
	if base == "Null" && ifExists {
		return unknown // not an operator IAM defines
	}
	v, present := lookup(r.Context, c.Key)
	if !present {
		switch {
		case !decidable(c.Key, r.Action):
			return unknown
		case base == "Null":
			return truth(slices.ContainsFunc(c.Values, func(s string) bool { return strings.EqualFold(s, "true") }))
		case ifExists || negated[base]:
			return yes
		case positive[base]:
			return no
		default:
			return unknown
		}
	}
	if slices.ContainsFunc(c.Values, func(s string) bool { return strings.Contains(s, "${") }) {
		return unknown
	}
	anyValue := func(match func(pattern string) bool) bool { return slices.ContainsFunc(c.Values, match) }
	switch base {
	case "StringEquals":
		return truth(anyValue(func(p string) bool { return p == v }))
	case "StringNotEquals":
		return truth(!anyValue(func(p string) bool { return p == v }))
	case "StringEqualsIgnoreCase":
		return truth(anyValue(func(p string) bool { return strings.EqualFold(p, v) }))
	case "StringNotEqualsIgnoreCase":
		return truth(!anyValue(func(p string) bool { return strings.EqualFold(p, v) }))
	case "StringLike":
		return truth(anyValue(func(p string) bool { return matchGlob(p, v) }))
	case "StringNotLike":
		return truth(!anyValue(func(p string) bool { return matchGlob(p, v) }))
	case "ArnEquals", "ArnLike":
		return truth(anyValue(func(p string) bool { return arnMatch(p, v) }))
	case "ArnNotEquals", "ArnNotLike":
		return truth(!anyValue(func(p string) bool { return arnMatch(p, v) }))
	case "Bool":
		return truth(anyValue(func(p string) bool { return strings.EqualFold(p, v) }))
	case "Null":
		// The key is present: "Null": "false" holds.
		return truth(anyValue(func(p string) bool { return strings.EqualFold(p, "false") }))
	default:
		return unknown
	}
}

// lookup finds a condition key, whose name IAM compares
// case-insensitively.
func lookup(ctx map[string]string, key string) (string, bool) {
	if v, ok := ctx[key]; ok {
		return v, true
	}
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// decidable reports whether the absence of key from a request's context
// means the request lacks it: true for the keys of the action's own
// service, which the request describes completely; false for global keys
// (aws:…) and others, which real requests may carry.
func decidable(key, action string) bool {
	ns, _, ok := strings.Cut(key, ":")
	svc, _, _ := strings.Cut(action, ":")
	return ok && !strings.EqualFold(ns, "aws") && strings.EqualFold(ns, svc)
}

// arnMatch compares an ARN with an ArnEquals/ArnLike pattern: each of the
// six colon-separated parts separately, with * and ?.
func arnMatch(pattern, arn string) bool {
	p, a := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(p) != 6 || len(a) != 6 {
		return matchGlob(pattern, arn)
	}
	for i := range p {
		if !matchGlob(p[i], a[i]) {
			return false
		}
	}
	return true
}
