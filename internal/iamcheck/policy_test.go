package iamcheck

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":{"Sid":"One","Effect":"Allow","Action":"sqs:SendMessage",
		"Resource":["arn:aws:sqs:*:*:a","arn:aws:sqs:*:*:b"],"Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"k:n":[1,2.5]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	st := p.Statements[0]
	if p.Version != "2012-10-17" || len(p.Statements) != 1 || st.Sid != "One" || st.Effect != Allow ||
		!reflect.DeepEqual(st.Actions, []string{"sqs:SendMessage"}) || len(st.Resources) != 2 || st.NotActions != nil {
		t.Fatalf("parsed %+v", p)
	}
	conds := map[string][]string{}
	for _, c := range st.Conditions {
		conds[c.Operator+" "+c.Key] = c.Values
	}
	if !reflect.DeepEqual(conds, map[string][]string{"Bool aws:SecureTransport": {"true"}, "NumericLessThan k:n": {"1", "2.5"}}) {
		t.Fatalf("conditions %v", conds)
	}

	p, err = Parse([]byte(`{"Statement":[{"Effect":"Deny","NotAction":["iam:*"],"NotResource":"arn:aws:iam::*:role/x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Statements[0]; st.Effect != Deny || st.Actions != nil || !reflect.DeepEqual(st.NotActions, []string{"iam:*"}) ||
		!reflect.DeepEqual(st.NotResources, []string{"arn:aws:iam::*:role/x"}) {
		t.Fatalf("parsed %+v", p)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ doc, says string }{
		{`not json`, "policy document"},
		{`{}`, "no Statement"},
		{`{"Statement":[]}`, "empty list"},
		{`{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`, `Effect "allow"`},
		{`{"Statement":{"Effect":"Allow","Resource":"*"}}`, "neither Action nor NotAction"},
		{`{"Statement":{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}}`, "both Action and NotAction"},
		{`{"Statement":{"Effect":"Allow","Action":"*"}}`, "neither Resource nor NotResource"},
		{`{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, "an empty Action list"},
		{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}`, "Principal"},
		{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{}}}}`, "names no key"},
		{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}}`, "want a string"},
		{`{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*"}]}`, "statement #2"},
		{`{"Statement":{"Sid":"Named","Effect":"Deny","Action":"*"}}`, `statement "Named"`},
	} {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("Parse(%s) = %v, want an error saying %q", tt.doc, err, tt.says)
		}
	}
}

// String renders a document Parse reads back to the same policy.
func TestPolicyStringRoundTrip(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Sid":"A","Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"arn:aws:sqs:*:*:x",
		 "Condition":{"StringEquals":{"k:a":["1","2"]}}},
		{"Effect":"Deny","NotAction":"iam:*","NotResource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]byte(p.String()))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip:\n%+v\n%+v", p, back)
	}
}

// FuzzParse feeds hostile documents to the parser (policy documents come
// from IAM, written by anyone with iam:PutRolePolicy): it must never
// panic, and what it accepts must render and parse back the same, and
// evaluate without panicking.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
		`{"Statement":[{"Sid":"x","Effect":"Deny","NotAction":["sqs:*"],"NotResource":"arn:*","Condition":{"StringLike":{"ecs:cluster":"arn:*"}}}]}`,
		`{"Statement":{"Effect":"Allow","Action":"s3:Get?bject","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":false},"Null":{"k:x":"true"}}}}`,
		`{"Statement":[]}`,
		`{"Statement":null}`,
		`[]`,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a",1,true]}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			if p.Statements != nil {
				t.Fatalf("an error with statements: %v", err)
			}
			return
		}
		back, err := Parse([]byte(p.String()))
		if err != nil {
			t.Fatalf("rendered %s, which does not parse: %v", p, err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(p)) {
			t.Fatalf("round trip:\n%+v\n%+v", p, back)
		}
		for _, r := range []Request{
			{Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:123456789012:d-job-*"},
			{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/x", Context: map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/c"}},
		} {
			_ = Evaluate(r, p, back)
		}
	})
}

// normalize orders each statement's conditions (a JSON object's keys
// have no order) and drops the version String fills in.
func normalize(p Policy) Policy {
	p.Version = ""
	for i, st := range p.Statements {
		cs := append([]Condition(nil), st.Conditions...)
		sortConditions(cs)
		// Values of one operator and key are merged by String.
		var merged []Condition
		for _, c := range cs {
			if n := len(merged); n > 0 && merged[n-1].Operator == c.Operator && merged[n-1].Key == c.Key {
				merged[n-1].Values = append(merged[n-1].Values, c.Values...)
				continue
			}
			merged = append(merged, Condition{Operator: c.Operator, Key: c.Key, Values: append([]string{}, c.Values...)})
		}
		st.Conditions = merged
		p.Statements[i] = st
	}
	return p
}

func sortConditions(cs []Condition) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && (cs[j].Operator+"\x00"+cs[j].Key) < (cs[j-1].Operator+"\x00"+cs[j-1].Key); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
