package tfvars

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestReadNative(t *testing.T) {
	src := `# comment
a = { b = [1, "x", true, null], "c-d" = { e = 2.5 } } // trailing
skip = var.anything
`
	f, err := Read("v.tfvars", []byte(src), func(n string) bool { return n != "skip" })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"b": []any{json.Number("1"), "x", true, nil}, "c-d": map[string]any{"e": json.Number("2.5")}}
	if got := f.Variables["a"]; !reflect.DeepEqual(got.Value, want) || got.Pos != "v.tfvars:2" {
		t.Errorf("a = %#v at %s", got.Value, got.Pos)
	}
	if !reflect.DeepEqual(f.Skipped, []string{"skip"}) {
		t.Errorf("skipped = %v", f.Skipped)
	}
}

func TestReadTerragruntLocals(t *testing.T) {
	src := `locals {
  c = local.b
  b = local.a
  a = "x"
  env = get_env("HOME")
}
dependency "vpc" {
  config_path = "../vpc"
}
inputs = {
  v = { k = local.c }
  w = "${local.a}-y"
}
`
	f, err := Read("terragrunt.hcl", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Variables["v"].Value; !reflect.DeepEqual(got, map[string]any{"k": "x"}) {
		t.Errorf("v = %#v", got)
	}
	if got := f.Variables["w"].Value; got != "x-y" {
		t.Errorf("w = %#v", got)
	}
	if f.Variables["w"].Pos != "terragrunt.hcl:12" {
		t.Errorf("w at %s", f.Variables["w"].Pos)
	}
	if !reflect.DeepEqual(f.Skipped, []string{"block dependency"}) {
		t.Errorf("skipped = %v", f.Skipped)
	}
	_, err = Read("t.hcl", []byte("locals {\n  env = get_env(\"HOME\")\n}\ninputs = {\n  v = local.env\n}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "t.hcl:5: v refers to local.env, which is not a literal value") {
		t.Errorf("err = %v", err)
	}
}

func TestReadJSONIsLiteral(t *testing.T) {
	f, err := Read("v.tfvars.json", []byte(`{"a": "${var.x}", "n": 3}`), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if f.Variables["a"].Value != "${var.x}" || f.Variables["n"].Value != json.Number("3") {
		t.Errorf("variables = %#v", f.Variables)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ file, src, want string }{
		{"x.tfvars", "a = {\n", "x.tfvars:2: Missing expression"},
		{"x.tfvars", "a = 1\nb = upper(\"x\")\n", "x.tfvars:2: b calls the function upper"},
		{"x.tfvars", "a = [for s in [\"a\"] : s]\nb = c\n", "x.tfvars:2: b refers to c"},
		{"x.hcl", "inputs = merge({}, {})\n", "x.hcl:1: inputs: only an object of literal values"},
		{"x.json", "[1]", "x.json:1"},
	} {
		_, err := Read(tc.file, []byte(tc.src), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}
