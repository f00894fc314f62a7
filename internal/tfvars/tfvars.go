// Package tfvars reads Terraform variable values as users keep them: HCL
// variable files (.tfvars), Terragrunt configurations (.hcl, their inputs
// attribute and literal locals) and JSON variable files (.tfvars.json).
//
// It evaluates literal values only, as Terraform does for variable files:
// a reference to a variable, a resource or a function call is an error
// naming the file, line and variable. The values come back in the JSON data
// model (map[string]any, []any, string, json.Number, bool, nil), so a
// caller decodes them as it would decode JSON.
package tfvars

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// Variable is one variable's value and where it was set.
type Variable struct {
	// Value is in the JSON data model: map[string]any, []any, string,
	// json.Number, bool or nil.
	Value any
	// Pos is "FILE:LINE" of the variable's definition.
	Pos string
}

// File is what Read found in a variable file.
type File struct {
	// Variables are the variables Read evaluated, by name.
	Variables map[string]Variable
	// Skipped names, sorted, what the file holds that Read did not
	// evaluate: variables that want refused, and blocks other than locals
	// ("block terraform").
	Skipped []string
}

// Read parses a variable file. The syntax follows the name: JSON for a
// name ending in ".json" or data starting with "{", HCL native syntax
// otherwise. A file with an
// inputs attribute and no other attributes is read as a Terragrunt
// configuration: the variables are the keys of inputs, which may refer to
// locals that are literal values themselves. want, when not nil, chooses
// the variables to evaluate; the others are not evaluated (so they may hold
// anything) and are listed in File.Skipped.
func Read(filename string, data []byte, want func(name string) bool) (*File, error) {
	if want == nil {
		want = func(string) bool { return true }
	}
	if strings.HasSuffix(strings.ToLower(filename), ".json") || bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return readJSON(filename, data)
	}
	return readNative(filename, data, want)
}

func readJSON(filename string, data []byte) (*File, error) {
	f, diags := hcljson.Parse(data, filename)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	out := &File{Variables: map[string]Variable{}}
	for _, name := range sortedAttrs(attrs) {
		a := attrs[name]
		// A nil context reads strings literally, as Terraform reads
		// .tfvars.json: "${...}" is text, not a template.
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		val, err := toJSON(v, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos(a.NameRange), err)
		}
		out.Variables[name] = Variable{Value: val, Pos: pos(a.NameRange)}
	}
	return out, nil
}

// expr is one variable's expression in a native-syntax file.
type expr struct {
	name string
	e    hclsyntax.Expression
	at   hcl.Range
}

func readNative(filename string, data []byte, want func(string) bool) (*File, error) {
	f, diags := hclsyntax.ParseConfig(data, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("%s: not an HCL native syntax file", filename)
	}
	out := &File{Variables: map[string]Variable{}}
	var locals []*hclsyntax.Attribute
	for _, b := range body.Blocks {
		if b.Type == "locals" {
			for _, a := range b.Body.Attributes {
				locals = append(locals, a)
			}
			continue
		}
		if s := "block " + b.Type; !slices.Contains(out.Skipped, s) {
			out.Skipped = append(out.Skipped, s)
		}
	}

	var exprs []expr
	if in, ok := body.Attributes["inputs"]; ok && len(body.Attributes) == 1 {
		obj, ok := in.Expr.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return nil, fmt.Errorf("%s: inputs: only an object of literal values { NAME = VALUE, ... } can be read", pos(in.NameRange))
		}
		for _, item := range obj.Items {
			kv, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || kv.IsNull() || !kv.IsKnown() || kv.Type() != cty.String {
				return nil, fmt.Errorf("%s: inputs: a key must be a plain name", pos(item.KeyExpr.Range()))
			}
			exprs = append(exprs, expr{name: kv.AsString(), e: item.ValueExpr, at: item.KeyExpr.Range()})
		}
	} else {
		for _, a := range body.Attributes {
			exprs = append(exprs, expr{name: a.Name, e: a.Expr, at: a.NameRange})
		}
	}
	sort.Slice(exprs, func(i, j int) bool { return exprs[i].name < exprs[j].name })

	ctx, err := localsContext(locals)
	if err != nil {
		return nil, err
	}
	for _, x := range exprs {
		if !want(x.name) {
			out.Skipped = append(out.Skipped, x.name)
			continue
		}
		if _, dup := out.Variables[x.name]; dup {
			return nil, fmt.Errorf("%s: %s is set twice", pos(x.at), x.name)
		}
		if err := checkLiteral(x.name, x.e, ctx); err != nil {
			return nil, err
		}
		v, diags := x.e.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %w", x.name, diagError(diags))
		}
		val, err := toJSON(v, x.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos(x.at), err)
		}
		out.Variables[x.name] = Variable{Value: val, Pos: pos(x.at)}
	}
	sort.Strings(out.Skipped)
	return out, nil
}

// localsContext evaluates the locals that are literal values, or refer only
// to such locals, and returns a context that offers them as local.NAME. It
// is nil when there are none, so that any reference is refused.
func localsContext(locals []*hclsyntax.Attribute) (*hcl.EvalContext, error) {
	if len(locals) == 0 {
		return nil, nil
	}
	known := map[string]cty.Value{}
	pending := locals
	for len(pending) > 0 {
		var next []*hclsyntax.Attribute
		for _, a := range pending {
			ready := true
			for _, t := range a.Expr.Variables() {
				if t.RootName() != "local" {
					ready = false // never: not literal
					break
				}
				if name, ok := localName(t); !ok || !has(known, name) {
					ready = false
					break
				}
			}
			if !ready || hasCall(a.Expr) {
				next = append(next, a)
				continue
			}
			v, diags := a.Expr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{"local": cty.ObjectVal(known)}})
			if diags.HasErrors() {
				next = append(next, a)
				continue
			}
			known[a.Name] = v
		}
		if len(next) == len(pending) {
			break // the rest are not literal; using one is an error
		}
		pending = next
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"local": cty.ObjectVal(known)}}, nil
}

// checkLiteral refuses an expression that refers to anything but a literal
// local, or calls a function, naming where.
func checkLiteral(name string, e hclsyntax.Expression, ctx *hcl.EvalContext) error {
	for _, t := range e.Variables() {
		if t.RootName() == "local" && ctx != nil {
			if l, ok := localName(t); ok {
				if _, ok := ctx.Variables["local"].Type().AttributeTypes()[l]; ok {
					continue
				}
				return fmt.Errorf("%s: %s refers to local.%s, which is not a literal value (only literal values and locals that are literal values can be imported): replace it with its value",
					pos(t.SourceRange()), name, l)
			}
		}
		return fmt.Errorf("%s: %s refers to %s (only literal values can be imported): replace it with its value",
			pos(t.SourceRange()), name, traversalString(t))
	}
	var err error
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && err == nil {
			err = fmt.Errorf("%s: %s calls the function %s (only literal values can be imported): replace the call with its value",
				pos(c.NameRange), name, c.Name)
		}
		return nil
	})
	return err
}

func hasCall(e hclsyntax.Expression) bool {
	found := false
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			found = true
		}
		return nil
	})
	return found
}

func localName(t hcl.Traversal) (string, bool) {
	if len(t) < 2 {
		return "", false
	}
	a, ok := t[1].(hcl.TraverseAttr)
	return a.Name, ok
}

func traversalString(t hcl.Traversal) string {
	var b strings.Builder
	for i, s := range t {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		default:
			if i == 0 {
				b.WriteString("?")
			}
			b.WriteString("[...]")
		}
	}
	return b.String()
}

// toJSON converts a cty value into the JSON data model.
func toJSON(v cty.Value, path string) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("%s: value is not known", path)
	}
	v, _ = v.Unmark()
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), nil
	case t == cty.Bool:
		return v.True(), nil
	case t == cty.Number:
		return json.Number(v.AsBigFloat().Text('f', -1)), nil
	case t.IsObjectType() || t.IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			c, err := toJSON(e, path+"."+k.AsString())
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = c
		}
		return out, nil
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		out := []any{}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			c, err := toJSON(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: a value of type %s cannot be imported", path, t.FriendlyName())
	}
}

// diagError turns HCL diagnostics into one error, "FILE:LINE:COL: summary;
// detail" per problem.
func diagError(diags hcl.Diagnostics) error {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary
		if d.Detail != "" {
			s += "; " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d: %s", filepath.ToSlash(d.Subject.Filename), d.Subject.Start.Line, s)
		}
		lines = append(lines, oneLine(s))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", filepath.ToSlash(r.Filename), r.Start.Line)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortedAttrs(m hcl.Attributes) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func has(m map[string]cty.Value, k string) bool {
	_, ok := m[k]
	return ok
}
