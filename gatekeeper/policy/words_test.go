package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{``, []string{}, ""},
		{"  \t\n ", []string{}, ""},
		{`a b  c`, []string{"a", "b", "c"}, ""},
		{"a\tb\nc", []string{"a", "b", "c"}, ""},
		{`--path 'live/prod x'`, []string{"--path", "live/prod x"}, ""},
		{`'it'\''s'`, []string{"it's"}, ""},
		{`"a \"b\" \\ \$HOME \` + "`" + `x\` + "`" + `"`, []string{`a "b" \ $HOME ` + "`x`"}, ""},
		{`"a\nb"`, []string{`a\nb`}, ""},
		{"\"a\\\nb\"", []string{"ab"}, ""},
		{"a\\\nb", []string{"ab"}, ""},
		{`a\ b`, []string{"a b"}, ""},
		{`\'`, []string{"'"}, ""},
		{`'$HOME' $HOME ~ *.tf`, []string{"$HOME", "$HOME", "~", "*.tf"}, ""},
		{`a;b|c&&d #e`, []string{"a;b|c&&d", "#e"}, ""},
		{`"" ''`, []string{"", ""}, ""},
		{`a"b"'c'd`, []string{"abcd"}, ""},
		{`--ref="main"`, []string{"--ref=main"}, ""},
		{`'unterminated`, nil, "unterminated single quote at byte 0"},
		{`ok "unterminated`, nil, "unterminated double quote at byte 3"},
		{`"escaped quote\"`, nil, "unterminated double quote"},
		{`trailing\`, nil, "trailing backslash at byte 8"},
	}
	for _, tt := range tests {
		got, err := SplitWords(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SplitWords(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
