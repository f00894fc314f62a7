package ddbfake

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// reservedWords is DynamoDB's list of reserved words
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html),
// one a line, which may not appear bare as attribute names in expressions.
//
//go:embed reserved_words.txt
var reservedWordsText string

var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(reservedWordsText) {
		m[strings.ToUpper(w)] = true
	}
	return m
}()

// The kinds of expression, as DynamoDB names them in its error messages.
const (
	kindCondition = "ConditionExpression"
	kindKey       = "KeyConditionExpression"
	kindFilter    = "FilterExpression"
	kindUpdate    = "UpdateExpression"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tName  // #name
	tValue // :value
	tCmp   // = <> < <= > >=
	tLParen
	tRParen
	tComma
	tOther // . [ ] + - and digits: syntax the fake does not support
)

type token struct {
	kind tokKind
	text string
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// lex splits an expression into tokens.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, exprErr("Syntax error; token: %q, near: %q", s[i:i+1], near(s, i))
			}
			k := tName
			if c == ':' {
				k = tValue
			}
			out = append(out, token{k, s[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			out = append(out, token{tIdent, s[i:j]})
			i = j
		case c == '<' || c == '>' || c == '=':
			j := i + 1
			if j < len(s) && (c == '<' && (s[j] == '=' || s[j] == '>') || c == '>' && s[j] == '=') {
				j++
			}
			out = append(out, token{tCmp, s[i:j]})
			i = j
		case c == '(':
			out = append(out, token{tLParen, "("})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")"})
			i++
		case c == ',':
			out = append(out, token{tComma, ","})
			i++
		case c == '.' || c == '[' || c == ']' || c == '+' || c == '-' || c >= '0' && c <= '9':
			out = append(out, token{tOther, s[i : i+1]})
			i++
		default:
			return nil, exprErr("Invalid character encountered; character: %q, near: %q", s[i:i+1], near(s, i))
		}
	}
	return append(out, token{tEOF, "<EOF>"}), nil
}

func near(s string, i int) string {
	lo, hi := max(0, i-8), min(len(s), i+8)
	return s[lo:hi]
}

// operand is an attribute of the item (name) or a literal (value).
type operand struct {
	name  string // resolved attribute name; "" for a value
	value *Value
	text  string // as written, for messages
}

func (o operand) resolve(it Item) (Value, bool) {
	if o.value != nil {
		return *o.value, true
	}
	v, ok := it[o.name]
	return v, ok
}

// cond is a parsed condition (ConditionExpression, FilterExpression,
// KeyConditionExpression).
type cond interface {
	eval(it Item) (bool, error)
}

type cmpCond struct {
	op   string
	l, r operand
}

func (c cmpCond) eval(it Item) (bool, error) {
	a, okA := c.l.resolve(it)
	b, okB := c.r.resolve(it)
	switch c.op {
	case "=":
		return okA && okB && equal(a, b), nil
	case "<>":
		// DynamoDB: a missing attribute is not equal to anything.
		return !okA || !okB || !equal(a, b), nil
	}
	if !okA || !okB {
		return false, nil
	}
	n, ok := compare(a, b)
	if !ok {
		return false, nil
	}
	switch c.op {
	case "<":
		return n < 0, nil
	case "<=":
		return n <= 0, nil
	case ">":
		return n > 0, nil
	default: // ">="
		return n >= 0, nil
	}
}

type betweenCond struct{ v, lo, hi operand }

func (c betweenCond) eval(it Item) (bool, error) {
	v, ok1 := c.v.resolve(it)
	lo, ok2 := c.lo.resolve(it)
	hi, ok3 := c.hi.resolve(it)
	if !ok1 || !ok2 || !ok3 {
		return false, nil
	}
	if n, ok := compare(lo, hi); ok && n > 0 {
		return false, exprErr("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: %s, upper operand: %s", c.lo.text, c.hi.text)
	}
	a, okA := compare(lo, v)
	b, okB := compare(v, hi)
	return okA && okB && a <= 0 && b <= 0, nil
}

type existsCond struct {
	name string
	not  bool
}

func (c existsCond) eval(it Item) (bool, error) {
	_, ok := it[c.name]
	return ok != c.not, nil
}

type beginsCond struct{ v, prefix operand }

func (c beginsCond) eval(it Item) (bool, error) {
	v, ok1 := c.v.resolve(it)
	p, ok2 := c.prefix.resolve(it)
	if !ok1 || !ok2 {
		return false, nil
	}
	switch {
	case v.S != nil && p.S != nil:
		return strings.HasPrefix(*v.S, *p.S), nil
	case v.B != nil && p.B != nil:
		return strings.HasPrefix(string(v.B), string(p.B)), nil
	}
	return false, nil
}

type andCond struct{ l, r cond }

func (c andCond) eval(it Item) (bool, error) {
	a, err := c.l.eval(it)
	if err != nil || !a {
		return false, err
	}
	return c.r.eval(it)
}

type orCond struct{ l, r cond }

func (c orCond) eval(it Item) (bool, error) {
	a, err := c.l.eval(it)
	if err != nil || a {
		return a, err
	}
	return c.r.eval(it)
}

type notCond struct{ c cond }

func (c notCond) eval(it Item) (bool, error) {
	a, err := c.c.eval(it)
	return !a, err
}

// exprCtx parses the expressions of one request against its
// ExpressionAttributeNames and ExpressionAttributeValues, tracking which
// were used: DynamoDB refuses unused ones.
type exprCtx struct {
	names  map[string]string
	values map[string]Value
	usedN  map[string]bool
	usedV  map[string]bool
	any    bool // an expression was parsed
}

func newExprCtx(names map[string]string, values map[string]Value) *exprCtx {
	return &exprCtx{names: names, values: values, usedN: map[string]bool{}, usedV: map[string]bool{}}
}

// finish checks the request's names and values were all used.
func (x *exprCtx) finish() error {
	if !x.any {
		if x.names != nil {
			return validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if x.values != nil {
			return validation("ExpressionAttributeValues can only be specified when using expressions")
		}
		return nil
	}
	if x.names != nil && len(x.names) == 0 {
		return validation("ExpressionAttributeNames must not be empty")
	}
	if x.values != nil && len(x.values) == 0 {
		return validation("ExpressionAttributeValues must not be empty")
	}
	if unused := unusedKeys(x.names, x.usedN); unused != "" {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", unused)
	}
	if unused := unusedKeys(x.values, x.usedV); unused != "" {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", unused)
	}
	return nil
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !used[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// parser is a recursive-descent parser over one expression's tokens.
type parser struct {
	x    *exprCtx
	kind string
	toks []token
	pos  int
}

// exprErr is a parse or evaluation failure, answered as a
// ValidationException prefixed with the expression's kind.
func exprErr(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

func (p *parser) fail(format string, args ...any) error { return exprErr(format, args...) }

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isKeyword(word string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, word)
}

func (p *parser) syntax() error {
	t := p.peek()
	var near []string
	for i := max(0, p.pos-1); i < min(len(p.toks), p.pos+2); i++ {
		if p.toks[i].kind != tEOF {
			near = append(near, p.toks[i].text)
		}
	}
	return p.fail("Syntax error; token: %q, near: %q", t.text, strings.Join(near, " "))
}

// unsupported reports syntax DynamoDB accepts but this fake does not
// implement, so that nothing silently evaluates to true.
func (p *parser) unsupported(what string) error {
	return p.fail("%s is not supported by this fake (ddbfake)", what)
}

// parse runs fn over expression s and wraps its errors as DynamoDB does.
func (x *exprCtx) parse(kind, s string, fn func(p *parser) error) error {
	x.any = true
	if strings.TrimSpace(s) == "" {
		return validation("Invalid %s: The expression can not be empty;", kind)
	}
	toks, err := lex(s)
	if err == nil {
		p := &parser{x: x, kind: kind, toks: toks}
		err = fn(p)
		if err == nil && p.peek().kind != tEOF {
			err = p.syntax()
		}
	}
	if err != nil {
		return validation("Invalid %s: %s", kind, err.Error())
	}
	return nil
}

// parseCondition parses a condition or filter expression.
func (x *exprCtx) parseCondition(kind, s string) (cond, error) {
	var c cond
	err := x.parse(kind, s, func(p *parser) error {
		var err error
		c, err = p.or()
		return err
	})
	return c, err
}

func (p *parser) or() (cond, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("OR") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orCond{l, r}
	}
	return l, nil
}

func (p *parser) and() (cond, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("AND") {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
	}
	return l, nil
}

func (p *parser) not() (cond, error) {
	if p.isKeyword("NOT") {
		p.next()
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	return p.primary()
}

func (p *parser) primary() (cond, error) {
	if p.peek().kind == tLParen {
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.syntax()
		}
		p.next()
		return c, nil
	}
	if t := p.peek(); t.kind == tIdent && p.toks[p.pos+1].kind == tLParen {
		return p.function()
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch t := p.peek(); {
	case t.kind == tCmp:
		p.next()
		r, err := p.operand()
		if err != nil {
			return nil, err
		}
		if t.text != "=" && t.text != "<>" {
			for _, o := range []operand{l, r} {
				if err := p.scalar(t.text, o); err != nil {
					return nil, err
				}
			}
		}
		return cmpCond{t.text, l, r}, nil
	case p.isKeyword("BETWEEN"):
		p.next()
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.isKeyword("AND") {
			return nil, p.syntax()
		}
		p.next()
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		for _, o := range []operand{l, lo, hi} {
			if err := p.scalar("BETWEEN", o); err != nil {
				return nil, err
			}
		}
		return betweenCond{l, lo, hi}, nil
	case p.isKeyword("IN"):
		return nil, p.unsupported("The IN operator")
	}
	return nil, p.syntax()
}

// scalar refuses literal operands an ordering operator cannot take.
func (p *parser) scalar(op string, o operand) error {
	if o.value == nil {
		return nil
	}
	t, _ := o.value.typ()
	if t != "S" && t != "N" && t != "B" {
		return p.fail("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, t)
	}
	return nil
}

func (p *parser) function() (cond, error) {
	fn := p.next().text
	p.next() // (
	var args []operand
	for {
		o, err := p.operand()
		if err != nil {
			return nil, err
		}
		args = append(args, o)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		break
	}
	if p.peek().kind != tRParen {
		return nil, p.syntax()
	}
	p.next()
	switch fn {
	case "attribute_exists", "attribute_not_exists":
		if len(args) != 1 {
			return nil, p.fail("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", fn, len(args))
		}
		if args[0].value != nil {
			return nil, p.fail("Operator or function requires a document path; operator or function: %s", fn)
		}
		return existsCond{name: args[0].name, not: fn == "attribute_not_exists"}, nil
	case "begins_with":
		if len(args) != 2 {
			return nil, p.fail("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", fn, len(args))
		}
		for _, o := range args {
			if o.value != nil && o.value.S == nil && o.value.B == nil {
				t, _ := o.value.typ()
				return nil, p.fail("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", fn, t)
			}
		}
		return beginsCond{args[0], args[1]}, nil
	case "attribute_type", "contains", "size":
		return nil, p.unsupported("The function " + fn)
	}
	return nil, p.fail("Invalid function name; function: %s", fn)
}

// operand parses a top-level attribute name (bare or #placeholder) or a
// :value placeholder.
func (p *parser) operand() (operand, error) {
	t := p.next()
	var o operand
	switch t.kind {
	case tValue:
		v, ok := p.x.values[t.text]
		if !ok {
			return o, p.fail("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		}
		p.x.usedV[t.text] = true
		o = operand{value: &v, text: t.text}
	case tName:
		n, ok := p.x.names[t.text]
		if !ok {
			return o, p.fail("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		p.x.usedN[t.text] = true
		o = operand{name: n, text: t.text}
	case tIdent:
		if p.peek().kind == tLParen {
			return o, p.unsupported("The function " + t.text + " as an operand")
		}
		switch strings.ToUpper(t.text) {
		case "AND", "OR", "NOT", "BETWEEN", "IN":
			p.pos--
			return o, p.syntax()
		}
		if reservedWords[strings.ToUpper(t.text)] {
			return o, p.fail("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		o = operand{name: t.text, text: t.text}
	default:
		p.pos--
		return o, p.syntax()
	}
	if n := p.peek(); n.kind == tOther && (n.text == "." || n.text == "[") {
		if o.value != nil {
			return o, p.syntax()
		}
		return o, p.unsupported("A nested document path")
	}
	if n := p.peek(); n.kind == tOther && (n.text == "+" || n.text == "-") {
		return o, p.unsupported("Arithmetic")
	}
	return o, nil
}

// assignment is one "SET path = operand" of an update expression.
type assignment struct {
	name string
	val  operand
}

// parseUpdate parses an update expression: SET clauses only.
func (x *exprCtx) parseUpdate(s string) ([]assignment, error) {
	var out []assignment
	err := x.parse(kindUpdate, s, func(p *parser) error {
		seen := false
		for p.peek().kind != tEOF {
			t := p.peek()
			switch {
			case p.isKeyword("SET"):
				if seen {
					return p.fail(`The "SET" section can only be used once in an update expression;`)
				}
				seen = true
				p.next()
			case p.isKeyword("REMOVE"), p.isKeyword("ADD"), p.isKeyword("DELETE"):
				return p.unsupported("The " + strings.ToUpper(t.text) + " clause")
			default:
				return p.syntax()
			}
			for {
				path, err := p.operand()
				if err != nil {
					return err
				}
				if path.value != nil {
					p.pos--
					return p.syntax()
				}
				if c := p.next(); c.kind != tCmp || c.text != "=" {
					p.pos--
					return p.syntax()
				}
				if n := p.peek(); n.kind == tIdent && p.toks[p.pos+1].kind == tLParen {
					return p.unsupported("The function " + n.text)
				}
				val, err := p.operand()
				if err != nil {
					return err
				}
				for _, a := range out {
					if a.name == path.name {
						return p.fail("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", a.name, path.name)
					}
				}
				out = append(out, assignment{path.name, val})
				if p.peek().kind != tComma {
					break
				}
				p.next()
			}
		}
		return nil
	})
	return out, err
}

// apply runs assignments on a copy of it (nil for an item that does not
// exist yet). Every operand is read from the item before the update.
func apply(it Item, as []assignment) (Item, error) {
	out := it.clone()
	if out == nil {
		out = Item{}
	}
	for _, a := range as {
		v, ok := a.val.resolve(it)
		if !ok {
			return nil, validation("The provided expression refers to an attribute that does not exist in the item")
		}
		out[a.name] = v
	}
	return out, nil
}
