package completion

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/schemas"
)

func names(cands []cobra.Completion) []string {
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		name, _, _ := strings.Cut(c, "\t")
		out = append(out, name)
	}
	return out
}

func TestArgCandidates(t *testing.T) {
	plan := schemas.ScriptInfo{
		Name:                      "plan",
		AllowedOptions:            []string{"--path", "--command", "--ref", "--var", "--Deploy_Path"},
		AllowedOptionsWithoutArgs: []string{"--refresh-only"},
		RestrictedOptions:         []string{"--destroy"},
		RepeatableOptions:         []string{"--var"},
		OptionPatterns:            map[string]string{"--command": `^(?:plan|plan-all|validate)$`, "--ref": `^(main|[0-9a-f]{40})$`},
		HardcodedArgv:             []string{"--lock-timeout", "5m"},
	}
	anyOpt := schemas.ScriptInfo{
		Name:                      "run",
		AnyOption:                 true,
		AllowedOptionsWithoutArgs: []string{"--yes"},
		RestrictedOptions:         []string{"--admin"},
		OptionPatterns:            map[string]string{"--env": `dev|prod`, "--admin": `x`},
		AllowPositionalArgs:       true,
	}
	// In the order of the names the gatekeeper knows them by.
	all := []string{"--command", "--Deploy_Path", "--path", "--ref", "--refresh-only", "--var"}
	cases := []struct {
		name       string
		s          schemas.ScriptInfo
		words      []string
		toComplete string
		want       []string
	}{
		{"every option", plan, nil, "", all},
		{"by prefix", plan, nil, "--re", []string{"--ref", "--refresh-only"}},
		{"values of a plain alternation", plan, []string{"--command"}, "", []string{"plan", "plan-all", "validate"}},
		{"values by prefix", plan, []string{"--command"}, "plan-", []string{"plan-all"}},
		{"values after =", plan, nil, "--command=v", []string{"--command=validate"}},
		{"no values for an open pattern", plan, []string{"--ref"}, "", nil},
		{"no values without a pattern", plan, []string{"--path"}, "", nil},
		{"a flag takes no value", plan, []string{"--refresh-only"}, "", []string{"--command", "--Deploy_Path", "--path", "--ref", "--var"}},
		{"given once", plan, []string{"--path", "x", "--command=plan"}, "", []string{"--Deploy_Path", "--ref", "--refresh-only", "--var"}},
		{"repeatable", plan, []string{"--var", "a=1"}, "--v", []string{"--var"}},
		{"spelled otherwise is the same option", plan, []string{"--deploy-path", "x"}, "--D", nil},
		{"a value that looks like an option", plan, []string{"--path"}, "--", nil},
		{"positional", plan, nil, "x", nil},
		{"after --", anyOpt, []string{"--"}, "", nil},
		{"any option: the named ones", anyOpt, nil, "", []string{"--env", "--yes"}},
		{"any option: an unknown option takes a value", anyOpt, []string{"--other"}, "", nil},
		{"any option: values", anyOpt, []string{"--other", "v", "--env"}, "p", []string{"prod"}},
		{"a restricted option has no values", anyOpt, nil, "--admin=", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := names(argCandidates(c.s, c.words, c.toComplete))
			if !slices.Equal(got, c.want) {
				t.Fatalf("argCandidates(%q, %q) = %q, want %q", c.words, c.toComplete, got, c.want)
			}
		})
	}
}

func TestScriptOptionsLeavesOutRestrictedAndHardcoded(t *testing.T) {
	s := schemas.ScriptInfo{
		AllowedOptions:    []string{"--ok", "--lock-timeout", "--DESTROY", "-x; rm -rf /"},
		RestrictedOptions: []string{"--destroy"},
		HardcodedArgv:     []string{"--lock-timeout=5m"},
	}
	got := sortedKeys(scriptOptions(s))
	if !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("options %q, want [ok]", got)
	}
}
