package ghrunner

import (
	"reflect"
	"testing"
)

// TestRunnerModel holds the model to the runner's behaviour as
// actions/runner's own tests and code describe it.
func TestRunnerModel(t *testing.T) {
	r := New()
	for _, line := range []string{
		"::set-output name=a::b%25c%0Ad",
		"  ::add-mask::secret",
		"text ##[set-output name=v1;]x%3By",
		"::warning file=a%3Ab.go,line=3::careful",
		"::group::title",
		"::stop-commands::pause-logging", // refused
		"::stop-commands::tok123",
		"::set-output name=ignored::1",
		"##[add-mask]ignored",
		"::TOK123::", // case-insensitive resume
		"::set-env name=E::v",
		"::endgroup::",
		"::unknown::x",
		"no command :: here",
		"\u200b::add-path::/p", // an ignorable character before "::"
	} {
		r.Line(line)
	}
	if want := map[string]string{"a": "b%c\nd", "v1": "x;y"}; !reflect.DeepEqual(r.Outputs, want) {
		t.Errorf("outputs %q, want %q", r.Outputs, want)
	}
	if want := []string{"secret"}; !reflect.DeepEqual(r.Masks, want) {
		t.Errorf("masks %q, want %q", r.Masks, want)
	}
	if len(r.Annotations) != 1 || r.Annotations[0].Properties["file"] != "a:b.go" || r.Annotations[0].Properties["line"] != "3" {
		t.Errorf("annotations %+v", r.Annotations)
	}
	if len(r.Refused) != 1 || r.Refused[0].Data != "pause-logging" {
		t.Errorf("refused %+v, want the pause-logging token", r.Refused)
	}
	if r.Env["E"] != "v" || r.Depth != 0 || !reflect.DeepEqual(r.Groups, []string{"title"}) || !reflect.DeepEqual(r.Paths, []string{"/p"}) {
		t.Errorf("env %q, groups %q (open %d), paths %q", r.Env, r.Groups, r.Depth, r.Paths)
	}
	if stopped, _ := r.Stopped(); stopped {
		t.Error("still stopped after the token")
	}
	if d := LogDirective("  ##[group]x"); d != "group" {
		t.Errorf("LogDirective = %q", d)
	}
}
