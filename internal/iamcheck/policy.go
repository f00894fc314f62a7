package iamcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Effect is a statement's effect.
type Effect string

// The two effects IAM knows.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is an IAM identity-based policy document, parsed.
type Policy struct {
	// Name says where the document came from in findings ("inline policy
	// deployer-worker of role d-worker", a managed policy's ARN). Parse
	// leaves it empty.
	Name string
	// Version is the document's policy language version, as written.
	Version    string
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Actions and
// NotActions is set, and exactly one of Resources and NotResources.
type Statement struct {
	// Sid is the statement's id; "" when it has none.
	Sid        string
	Effect     Effect
	Actions    []string
	NotActions []string
	// Resources and NotResources are ARN patterns.
	Resources    []string
	NotResources []string
	// Conditions all hold for the statement to apply (logical AND).
	Conditions []Condition
}

// Condition is one key of one operator of a statement's Condition block:
// {"StringEquals": {"ecs:cluster": ["a", "b"]}} is {StringEquals,
// ecs:cluster, [a b]}.
type Condition struct {
	Operator string
	Key      string
	Values   []string
}

// maxStatements bounds what Parse accepts: IAM's largest documents (10,240
// characters for a managed policy) hold far fewer.
const maxStatements = 1000

// Parse reads a policy document as IAM stores it (JSON, not URL-encoded).
// Statement may be one object or a list; Action, NotAction, Resource,
// NotResource and condition values a string or a list (condition values
// may also be booleans or numbers). A document IAM would refuse as an
// identity policy — a statement without an effect, with both or neither
// of Action and NotAction or of Resource and NotResource, with a
// Principal — is an error saying which statement and why.
func Parse(doc []byte) (Policy, error) {
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return Policy{}, fmt.Errorf("policy document: %w", err)
	}
	p := Policy{Version: raw.Version}
	var list []json.RawMessage
	switch s := bytes.TrimSpace(raw.Statement); {
	case len(s) == 0 || string(s) == "null":
		return Policy{}, errors.New("policy document: no Statement")
	case s[0] == '[':
		if err := json.Unmarshal(s, &list); err != nil {
			return Policy{}, fmt.Errorf("policy document: Statement: %w", err)
		}
	default:
		list = []json.RawMessage{s}
	}
	if len(list) == 0 {
		return Policy{}, errors.New("policy document: Statement is an empty list")
	}
	if len(list) > maxStatements {
		return Policy{}, fmt.Errorf("policy document: %d statements, more than any IAM policy holds", len(list))
	}
	var errs []error
	for i, m := range list {
		st, err := parseStatement(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("statement %s: %w", statementName(i, st.Sid), err))
			continue
		}
		p.Statements = append(p.Statements, st)
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, fmt.Errorf("policy document: %w", err)
	}
	return p, nil
}

func statementName(i int, sid string) string {
	if sid != "" {
		return strconv.Quote(sid)
	}
	return "#" + strconv.Itoa(i+1)
}

func parseStatement(m json.RawMessage) (Statement, error) {
	var raw struct {
		Sid          string
		Effect       string
		Action       *stringOrList
		NotAction    *stringOrList
		Resource     *stringOrList
		NotResource  *stringOrList
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Condition    map[string]map[string]stringOrList
	}
	if err := json.Unmarshal(m, &raw); err != nil {
		return Statement{}, err
	}
	st := Statement{Sid: raw.Sid, Effect: Effect(raw.Effect)}
	var errs []error
	if st.Effect != Allow && st.Effect != Deny {
		errs = append(errs, fmt.Errorf("Effect %q: want Allow or Deny", raw.Effect))
	}
	if raw.Principal != nil || raw.NotPrincipal != nil {
		errs = append(errs, errors.New("an identity policy names no Principal"))
	}
	var err error
	if st.Actions, st.NotActions, err = exactlyOne("Action", raw.Action, raw.NotAction); err != nil {
		errs = append(errs, err)
	}
	if st.Resources, st.NotResources, err = exactlyOne("Resource", raw.Resource, raw.NotResource); err != nil {
		errs = append(errs, err)
	}
	for op, keys := range raw.Condition {
		if len(keys) == 0 {
			errs = append(errs, fmt.Errorf("Condition %s names no key", op))
		}
		for key, values := range keys {
			st.Conditions = append(st.Conditions, Condition{Operator: op, Key: key, Values: values})
		}
	}
	return st, errors.Join(errs...)
}

// exactlyOne returns the element or its Not form, whichever is set.
func exactlyOne(name string, is, not *stringOrList) ([]string, []string, error) {
	switch {
	case is != nil && not != nil:
		return nil, nil, fmt.Errorf("both %s and Not%s", name, name)
	case is == nil && not == nil:
		return nil, nil, fmt.Errorf("neither %s nor Not%s", name, name)
	case is != nil && len(*is) == 0:
		return nil, nil, fmt.Errorf("an empty %s list", name)
	case not != nil && len(*not) == 0:
		return nil, nil, fmt.Errorf("an empty Not%s list", name)
	case is != nil:
		return *is, nil, nil
	default:
		return nil, *not, nil
	}
}

// stringOrList is a policy value given as one string or a list; booleans
// and numbers (condition values) are read as their JSON text.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			v, err := scalar(it)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		*s = out
		return nil
	}
	v, err := scalar(b)
	if err != nil {
		return err
	}
	*s = []string{v}
	return nil
}

// scalar reads a string, a boolean or a number as a string.
func scalar(b json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case bool, float64:
		return string(bytes.TrimSpace(b)), nil
	default:
		return "", fmt.Errorf("want a string, a boolean or a number, not %s", bytes.TrimSpace(b))
	}
}

// String renders the policy as a document IAM accepts.
func (p Policy) String() string {
	type doc struct {
		Sid         string                         `json:"Sid,omitempty"`
		Effect      Effect                         `json:"Effect"`
		Action      []string                       `json:"Action,omitempty"`
		NotAction   []string                       `json:"NotAction,omitempty"`
		Resource    []string                       `json:"Resource,omitempty"`
		NotResource []string                       `json:"NotResource,omitempty"`
		Condition   map[string]map[string][]string `json:"Condition,omitempty"`
	}
	out := struct {
		Version   string `json:"Version"`
		Statement []doc  `json:"Statement"`
	}{Version: p.Version}
	if out.Version == "" {
		out.Version = "2012-10-17"
	}
	for _, st := range p.Statements {
		d := doc{Sid: st.Sid, Effect: st.Effect, Action: st.Actions, NotAction: st.NotActions,
			Resource: st.Resources, NotResource: st.NotResources}
		for _, c := range st.Conditions {
			if d.Condition == nil {
				d.Condition = map[string]map[string][]string{}
			}
			if d.Condition[c.Operator] == nil {
				d.Condition[c.Operator] = map[string][]string{}
			}
			d.Condition[c.Operator][c.Key] = append(d.Condition[c.Operator][c.Key], c.Values...)
		}
		out.Statement = append(out.Statement, d)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Sprintf("<unrenderable policy: %v>", err) // cannot happen: only strings
	}
	return string(b)
}

// lower folds an action for comparison: IAM actions are case-insensitive.
func lower(s string) string { return strings.ToLower(s) }
