package completion

import (
	"regexp"
	"slices"
	"testing"
)

func TestValuesOfPlainAlternations(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`plan|apply`, []string{"apply", "plan"}},
		{`^(?:plan|plan-all|validate|validate-all)$`, []string{"plan", "plan-all", "validate", "validate-all"}},
		{`^(terraform|terragrunt)$`, []string{"terraform", "terragrunt"}},
		{`plan(-all)?`, []string{"plan", "plan-all"}},
		{`v[12]`, []string{"v1", "v2"}},
		{`x{2,3}`, []string{"xx", "xxx"}},
		{`eu-west-1|us-east-1`, []string{"eu-west-1", "us-east-1"}},
		{`refs/heads/main`, []string{"refs/heads/main"}},
		// A family of values: offering only "main" would suggest it is
		// the only one.
		{`^(main|[0-9a-f]{40})$`, nil},
		{`.*`, nil},
		{`[a-z]+`, nil},
		{`release/.+`, nil},
		// Not plain words.
		{`(?i)plan`, nil},
		{`^$`, nil},
		{`plan|`, nil},
		{`a b|c`, nil},
		{`-x|y`, nil},
		{`a;rm|b`, nil},
		{"a\x1b|b", nil},
		// An anchor in the middle admits nothing.
		{`a^b`, nil},
		{`(`, nil},
	}
	for _, c := range cases {
		if got := Values(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("Values(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// Whatever the pattern, every value offered is admitted by it, as the
// gatekeeper matches it (the whole value), and plain.
func FuzzValues(f *testing.F) {
	for _, s := range []string{`plan|apply`, `^(main|[0-9a-f]{40})$`, `v[12]{1,2}`, `a^b|c$d`, `(a|b)(c|d)?\b`, `x*|y+`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		vals := Values(expr)
		if len(vals) == 0 {
			return
		}
		whole := regexp.MustCompile(`^(?:` + expr + `)$`)
		if len(vals) > maxValues {
			t.Fatalf("%q: %d values", expr, len(vals))
		}
		for _, v := range vals {
			if !whole.MatchString(v) || !plainValue(v) {
				t.Fatalf("%q: value %q is not admitted or not plain", expr, v)
			}
		}
	})
}
