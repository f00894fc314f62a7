package ddbfake

import (
	"errors"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/test/awsfake"
)

func boolVal(b bool) Value { return Value{BOOL: &b} }

func TestConditionEval(t *testing.T) {
	item := Item{
		"lane":       Str("ami"),
		"slot":       Num("2"),
		"holder":     Str("job-1"),
		"expires_at": Num("1000"),
		"flag":       boolVal(true),
	}
	names := map[string]string{"#l": "lane", "#s": "slot", "#h": "holder", "#e": "expires_at", "#m": "missing", "#f": "flag"}
	values := map[string]Value{
		":ami": Str("ami"), ":job1": Str("job-1"), ":job2": Str("job-2"),
		":n999": Num("999"), ":n1000": Num("1000.0"), ":n1001": Num("1e3"), ":s1000": Str("1000"),
		":two": Num("2"), ":three": Num("3"), ":t": boolVal(true), ":jo": Str("jo"),
	}
	tests := []struct {
		expr string
		want bool
	}{
		{"#h = :job1", true},
		{"#h = :job2", false},
		{"#h <> :job2", true},
		{"#h <> :job1", false},
		{"#e = :n1000", true}, // numbers compare by value: 1000 = 1000.0
		{"#e = :n1001", true}, // 1e3
		{"#e = :s1000", false},
		{"#e <> :s1000", true}, // different types are never equal
		{"#e < :s1000", false}, // nor ordered
		{"#e > :n999", true},
		{"#e >= :n1000", true},
		{"#e <= :n999", false},
		{"#e < :n999", false},
		{":n999 < #e", true},
		{"#m = :job1", false},
		{"#m <> :job1", true}, // a missing attribute equals nothing
		{"#m < :n999", false},
		{"attribute_exists(#h)", true},
		{"attribute_exists(#m)", false},
		{"attribute_not_exists(#m)", true},
		{"attribute_not_exists(#l)", false},
		{"attribute_not_exists(#l) OR #e < :n999", false},
		{"attribute_not_exists(#l) OR #e > :n999", true},
		{"#h = :job1 AND #e > :n999", true},
		{"#h = :job2 AND #e > :n999", false},
		{"NOT #h = :job2", true},
		{"not #h = :job1", false},
		{"NOT (#h = :job1 AND #e > :n999)", false},
		{"#h = :job2 OR #h = :job1 AND #e < :n999", false}, // AND binds tighter
		{"(#h = :job2 OR #h = :job1) AND #e > :n999", true},
		{"#s BETWEEN :two AND :three", true},
		{"#e BETWEEN :two AND :three", false},
		{"begins_with(#h, :jo)", true},
		{"begins_with(#l, :jo)", false},
		{"#f = :t", true},
		{"holder = :job1", true}, // bare names that are not reserved words
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			x := newExprCtx(names, values)
			c, err := x.parseCondition(kindCondition, tc.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := c.eval(item)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got != tc.want {
				t.Fatalf("%s = %v, want %v", tc.expr, got, tc.want)
			}
			// On a missing item only the negative forms hold.
			if got, err := c.eval(nil); err != nil || (got && !strings.Contains(tc.expr, "not") && !strings.Contains(tc.expr, "NOT") && !strings.Contains(tc.expr, "<>") && !strings.HasPrefix(tc.expr, ":")) {
				t.Fatalf("%s on a missing item = %v, %v", tc.expr, got, err)
			}
		})
	}
}

// isValidation checks err is a ValidationException whose message
// contains want.
func isValidation(t *testing.T, err error, want string) {
	t.Helper()
	var ae *awsfake.Error
	if !errors.As(err, &ae) || ae.Code != "ValidationException" || ae.Status != 400 {
		t.Fatalf("got %v, want a ValidationException", err)
	}
	if !strings.Contains(ae.Message, want) {
		t.Fatalf("message %q does not contain %q", ae.Message, want)
	}
}

func TestConditionMalformed(t *testing.T) {
	names := map[string]string{"#h": "holder", "#e": "expires_at"}
	values := map[string]Value{":h": Str("x"), ":n": Num("1"), ":t": boolVal(true)}
	tests := []struct{ expr, want string }{
		{"", "Invalid ConditionExpression: The expression can not be empty"},
		{"   ", "The expression can not be empty"},
		{"#h =", "Syntax error"},
		{"#h = :h AND", "Syntax error"},
		{"#h = :h OR OR #h = :h", "Syntax error"},
		{"(#h = :h", "Syntax error"},
		{"#h = :h)", "Syntax error"},
		{"#h :h", "Syntax error"},
		{"#h == :h", "Syntax error"},
		{"#h = :h #e = :n", "Syntax error"},
		{"#h", "Syntax error"},
		{"#h = :undefined", "An expression attribute value used in expression is not defined; attribute value: :undefined"},
		{"#nope = :h", "An expression attribute name used in the document path is not defined; attribute name: #nope"},
		{"name = :h", "Attribute name is a reserved keyword; reserved keyword: name"},
		{"#h = :h; DROP", "Invalid character"},
		{"#h.x = :h", "nested document path is not supported by this fake"},
		{"#h[0] = :h", "nested document path is not supported by this fake"},
		{"#h IN (:h)", "IN operator is not supported by this fake"},
		{"size(#h) > :n", "not supported by this fake"},
		{"contains(#h, :h)", "contains is not supported by this fake"},
		{"#e + :n > :n", "Arithmetic is not supported by this fake"},
		{"nosuch(#h)", "Invalid function name; function: nosuch"},
		{"attribute_exists(:h)", "requires a document path"},
		{"attribute_exists(#h, #e)", "Incorrect number of operands"},
		{"#e < :t", "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"},
		{"#h = #", "Syntax error"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			x := newExprCtx(names, values)
			c, err := x.parseCondition(kindCondition, tc.expr)
			if c != nil && err == nil {
				t.Fatalf("%q parsed, want a ValidationException", tc.expr)
			}
			isValidation(t, err, tc.want)
		})
	}
}

func TestUnusedPlaceholders(t *testing.T) {
	x := newExprCtx(map[string]string{"#h": "holder", "#x": "x"}, map[string]Value{":h": Str("a"), ":y": Str("b"), ":z": Str("c")})
	if _, err := x.parseCondition(kindCondition, "#h = :h"); err != nil {
		t.Fatal(err)
	}
	isValidation(t, x.finish(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}")
	x = newExprCtx(map[string]string{"#h": "holder"}, map[string]Value{":h": Str("a"), ":y": Str("b"), ":z": Str("c")})
	if _, err := x.parseCondition(kindCondition, "#h = :h"); err != nil {
		t.Fatal(err)
	}
	isValidation(t, x.finish(), "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y, :z}")
	x = newExprCtx(map[string]string{"#h": "holder"}, nil)
	isValidation(t, x.finish(), "ExpressionAttributeNames can only be specified when using expressions")
}

func TestUpdateExpression(t *testing.T) {
	names := map[string]string{"#e": "expires_at", "#h": "holder", "#o": "other"}
	values := map[string]Value{":e": Num("5"), ":h": Str("b")}
	old := Item{"lane": Str("ami"), "holder": Str("a"), "expires_at": Num("1"), "other": Str("o")}
	x := newExprCtx(names, values)
	as, err := x.parseUpdate("SET #e = :e, #h = :h, copied = #o")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.finish(); err != nil {
		t.Fatal(err)
	}
	got, err := apply(old, as)
	if err != nil {
		t.Fatal(err)
	}
	if *got["expires_at"].N != "5" || *got["holder"].S != "b" || *got["copied"].S != "o" || *got["lane"].S != "ami" {
		t.Fatalf("after update: %+v", got)
	}
	if *old["holder"].S != "a" {
		t.Fatal("apply changed the old item")
	}

	malformed := []struct{ expr, want string }{
		{"", "Invalid UpdateExpression: The expression can not be empty"},
		{"#e = :e", "Syntax error"},
		{"SET", "Syntax error"},
		{"SET #e", "Syntax error"},
		{"SET #e = ", "Syntax error"},
		{"SET #e = :e,", "Syntax error"},
		{"SET :e = #e", "Syntax error"},
		{"SET #e = :e SET #h = :h", `The "SET" section can only be used once`},
		{"SET #e = :e, #e = :e", "Two document paths overlap"},
		{"REMOVE #e", "REMOVE clause is not supported by this fake"},
		{"SET #e = #e + :e", "Arithmetic is not supported by this fake"},
		{"SET #e = if_not_exists(#e, :e)", "if_not_exists is not supported by this fake"},
		{"SET #e.x = :e", "nested document path is not supported"},
		{"SET #e = :undefined", "attribute value: :undefined"},
	}
	for _, tc := range malformed {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := newExprCtx(names, values).parseUpdate(tc.expr)
			isValidation(t, err, tc.want)
		})
	}

	// SET from an attribute the item lacks is refused.
	x = newExprCtx(map[string]string{"#e": "expires_at", "#m": "missing"}, nil)
	as, err = x.parseUpdate("SET #e = #m")
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply(old, as)
	isValidation(t, err, "refers to an attribute that does not exist in the item")
}

func TestKeyCondition(t *testing.T) {
	tb := &table{hash: "lane", rng: "slot", types: map[string]string{"lane": "S", "slot": "N"}}
	names := map[string]string{"#l": "lane", "#s": "slot", "#h": "holder"}
	values := map[string]Value{":l": Str("ami"), ":a": Num("1"), ":b": Num("3")}
	ok := []string{
		"#l = :l",
		"#l = :l AND #s = :a",
		"#l = :l AND #s < :b",
		"#s >= :a AND #l = :l",
		"#l = :l AND #s BETWEEN :a AND :b",
		"(#l = :l) AND (#s > :a)",
	}
	for _, expr := range ok {
		x := newExprCtx(names, values)
		c, err := x.parseCondition(kindKey, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if v, _, err := tb.keyCondition(c); err != nil || *v.S != "ami" {
			t.Fatalf("%s: %v, %v", expr, v, err)
		}
	}
	bad := []struct{ expr, want string }{
		{"#s = :a", "Query condition missed key schema element: lane"},
		{"#l = :l OR #s = :a", "Invalid operator used in KeyConditionExpression: OR"},
		{"#l = :l AND #s <> :a", "Invalid operator used in KeyConditionExpression: <>"},
		{"NOT #l = :l", "NOT"},
		{"#l = :l AND #h = :l", "Query condition missed key schema element"},
		{"#l < :l", "Query key condition not supported"},
		{"#l = :l AND #s > :a AND #s < :b", "Conditions can be of length 1 or 2 only"},
		{"#l = :l AND attribute_exists(#s)", "attribute_exists"},
		{":l = #l", "must compare an attribute to a value"},
	}
	for _, tc := range bad {
		t.Run(tc.expr, func(t *testing.T) {
			x := newExprCtx(names, values)
			c, err := x.parseCondition(kindKey, tc.expr)
			if err == nil {
				_, _, err = tb.keyCondition(c)
			}
			isValidation(t, err, tc.want)
		})
	}
}
