package completion

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// option is one option a script's policy names.
type option struct {
	spelled string
	// flag options take no value (allowed_options_without_args); every
	// other option takes one, as the gatekeeper reads them.
	flag bool
	// pattern is its restricted_options_regex, if any.
	pattern string
}

// scriptOptions returns the options a caller may pass to s by name
// (OptionID): allowed_options and allowed_options_without_args, or when
// any option is allowed, those the policy names (flags, and options with
// a value pattern). Restricted and hardcoded options are left out.
func scriptOptions(s schemas.ScriptInfo) map[string]option {
	out := map[string]option{}
	denied := map[string]bool{}
	for _, o := range s.RestrictedOptions {
		if schemas.ValidOptionName(o) {
			denied[policy.OptionID(o)] = true
		}
	}
	for _, w := range s.HardcodedArgv {
		name, _, _ := strings.Cut(w, "=")
		if schemas.ValidOptionName(name) {
			denied[policy.OptionID(name)] = true
		}
	}
	add := func(name string, flag bool) {
		if !schemas.ValidOptionName(name) || denied[policy.OptionID(name)] {
			return
		}
		id := policy.OptionID(name)
		o, ok := out[id]
		if !ok {
			o.spelled = name
		}
		o.flag = o.flag || flag
		out[id] = o
	}
	if !s.AnyOption {
		for _, o := range s.AllowedOptions {
			add(o, false)
		}
	}
	for _, o := range s.AllowedOptionsWithoutArgs {
		add(o, true)
	}
	for _, name := range sortedKeys(s.OptionPatterns) {
		if !schemas.ValidOptionName(name) {
			continue
		}
		id := policy.OptionID(name)
		o, ok := out[id]
		if !ok && !s.AnyOption {
			continue // not allowed at all: its pattern never applies
		}
		if !ok {
			if denied[id] {
				continue
			}
			o.spelled = name
		}
		o.pattern = s.OptionPatterns[name]
		out[id] = o
	}
	return out
}

// argCandidates completes toComplete, the word after words (what the
// command line already gives the script s): the options not given yet
// (or repeatable), and the values of an option waiting for one when its
// pattern admits a few plain ones (Values), as "--opt VALUE" or
// "--opt=VALUE". Positional arguments are the caller's own: none are
// offered.
func argCandidates(s schemas.ScriptInfo, words []string, toComplete string) []cobra.Completion {
	opts := scriptOptions(s)
	repeatable := map[string]bool{}
	for _, o := range s.RepeatableOptions {
		if schemas.ValidOptionName(o) {
			repeatable[policy.OptionID(o)] = true
		}
	}
	given := map[string]bool{}
	var waiting string // the option whose value comes next
	endOfOptions := false
	for _, w := range words {
		switch {
		case waiting != "":
			waiting = ""
		case endOfOptions:
		case w == "--":
			endOfOptions = true
		case strings.HasPrefix(w, "-") && w != "-":
			name, _, hasValue := strings.Cut(w, "=")
			if !schemas.ValidOptionName(name) {
				continue
			}
			id := policy.OptionID(name)
			given[id] = true
			if o, ok := opts[id]; (!ok || !o.flag) && !hasValue {
				// The gatekeeper reads the next word as the value of
				// every option that is not a flag.
				waiting = id
			}
		}
	}
	switch {
	case waiting != "":
		return valueCandidates(opts[waiting], "", toComplete)
	case endOfOptions:
		return nil
	case strings.HasPrefix(toComplete, "-") && strings.Contains(toComplete, "="):
		name, _, _ := strings.Cut(toComplete, "=")
		if !schemas.ValidOptionName(name) {
			return nil
		}
		o := opts[policy.OptionID(name)]
		if o.flag {
			return nil
		}
		return valueCandidates(o, name+"=", toComplete)
	case toComplete != "" && !strings.HasPrefix(toComplete, "-"):
		return nil // a positional argument, or nonsense
	}
	var out []cobra.Completion
	for _, id := range sortedKeys(opts) {
		o := opts[id]
		if given[id] && !repeatable[id] || !strings.HasPrefix(o.spelled, toComplete) {
			continue
		}
		desc := "takes a value"
		switch {
		case o.flag:
			desc = "flag, no value"
		case o.pattern != "":
			desc = "value must match " + o.pattern
		}
		out = append(out, cobra.CompletionWithDesc(o.spelled, oneLine(desc)))
	}
	return out
}

// valueCandidates returns the values of o that start with toComplete
// once prefix ("--opt=" or "") is put before them.
func valueCandidates(o option, prefix, toComplete string) []cobra.Completion {
	if o.pattern == "" {
		return nil
	}
	var out []cobra.Completion
	for _, v := range Values(o.pattern) {
		if strings.HasPrefix(prefix+v, toComplete) {
			out = append(out, prefix+v)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
