package policy

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// The property checker below is written from the specification (package
// doc and the configuration reference), not from the implementation: it
// must not call classify, identity, looksLikeOption or any other helper of
// the resolver.

// fuzzTargets are the scripts of testdata/policy.yaml that ciRole may run.
var fuzzTargets = [][2]string{
	{"terraform-planner", "plan"},
	{"terraform-planner", "apply"},
	{"terraform-planner", "shell"},
	{"packer", "build-ami"},
}

// fuzzSep separates arguments in a fuzz input; an argument holding it would
// be refused as a control character anyway.
const fuzzSep = "\x1e"

func FuzzResolve(f *testing.F) {
	p := testPolicy(f)
	cfg := p.Config()
	for _, seed := range []string{
		"--path" + fuzzSep + "live/prod" + fuzzSep + "--ref=main",
		"--destroy", "--DESTROY", "-destroy", "---destroy", "--destroy=true",
		"\u2010\u2010destroy", "\u2212destroy", "\uff0d\uff0ddestroy", "--d\u0435stroy", "--\uff44estroy",
		" --destroy", "\u200b--destroy", "\u3164--destroy",
		"--path" + fuzzSep + "--destroy", "--path=--destroy", "--path" + fuzzSep + "\u2010destroy",
		"--" + fuzzSep + "--force", "--" + fuzzSep + "-FORCE=1",
		"--path=a\nb", "a\x00b", "--repo" + fuzzSep + "x", "-REPO=x", "-lock-timeout=0",
		"--ref" + fuzzSep + "mainx", "--var-file" + fuzzSep + "a" + fuzzSep + "--var-file=b",
		"--refresh-only=1", "--path" + fuzzSep + "a" + fuzzSep + "--path" + fuzzSep + "b",
		"\xff", "a\u2028b", "-", "--", "--=x", "-=", "--a=b=c",
	} {
		for sel := range fuzzTargets {
			f.Add(uint8(sel), false, seed)
		}
	}
	for _, seed := range []string{`--path 'x`, `"--destroy"`, `--path "a b" --ref=main`, `-- --force`, "--path\\\n--destroy", `'--repo' x`} {
		f.Add(uint8(0), true, seed)
		f.Add(uint8(3), true, seed)
	}
	f.Fuzz(func(t *testing.T, sel uint8, isLegacy bool, args string) {
		target := fuzzTargets[int(sel)%len(fuzzTargets)]
		req := request(target[0], target[1])
		var words []string
		if isLegacy {
			req.Args = schemas.Args{Legacy: args, IsLegacy: true}
		} else {
			words = strings.Split(args, fuzzSep)
			req.Args = schemas.ArgList(words...)
		}
		o, err := p.Resolve(req, ciRole, testNow)
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) || !slices.Contains(Codes, rej.Code) {
				t.Fatalf("error %v is not a known rejection", err)
			}
			if strings.ContainsAny(rej.Message, "\n\r\x00") || !utf8.ValidString(rej.Message) {
				t.Fatalf("rejection message is not one clean line: %q", rej.Message)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("accepted order does not validate: %v", err)
		}
		sc := cfg.Containers[target[0]].ScriptConfig[target[1]]
		if msg := checkAcceptedArgv(sc, words, o.Argv); msg != "" {
			t.Fatalf("%s/%s accepted %q as argv %q: %s", target[0], target[1], args, o.Argv, msg)
		}
	})
}

// checkAcceptedArgv returns "" when argv is one the specification allows
// for sc, or what is wrong. words, when not nil, are the caller's
// arguments as sent.
func checkAcceptedArgv(sc schemas.ScriptConfig, words, argv []string) string {
	var prefix []string
	for _, opt := range sortedStrings(sc.HardcodedOptions) {
		if len(sc.HardcodedOptions[opt]) == 0 {
			prefix = append(prefix, opt)
		}
		for _, v := range sc.HardcodedOptions[opt] {
			prefix = append(prefix, opt, v)
		}
	}
	suffix := sc.HardcodedArgs
	if len(argv) < len(prefix)+len(suffix) {
		return "argv is shorter than the hardcoded options and args"
	}
	if !slices.Equal(argv[:len(prefix)], prefix) {
		return "argv does not start with the hardcoded options exactly"
	}
	if !slices.Equal(argv[len(argv)-len(suffix):], suffix) {
		return "argv does not end with the hardcoded args exactly"
	}
	caller := argv[len(prefix) : len(argv)-len(suffix)]
	if words != nil && !slices.Equal(caller, words) {
		return "the caller's arguments were changed"
	}
	if len(caller) > 256 {
		return "more than 256 arguments"
	}
	for _, a := range caller {
		if len(a) > 4096 || !utf8.ValidString(a) {
			return "argument too long or not UTF-8: " + a
		}
		for _, r := range a {
			if r != '\t' && (r < 0x20 || r == 0x7f || unicode.IsControl(r) || r == 0x2028 || r == 0x2029) {
				return "argument with a control character"
			}
		}
	}

	id := func(opt string) string {
		return strings.ReplaceAll(strings.TrimLeft(strings.ToLower(opt), "-"), "_", "-")
	}
	forbidden := map[string]bool{}
	for _, o := range sc.RestrictedOptions {
		forbidden[id(o)] = true
	}
	for o := range sc.HardcodedOptions {
		forbidden[id(o)] = true
	}
	// abbreviates reports whether an option token could be read as a
	// forbidden option by a parser that expands unique prefixes.
	abbreviates := func(canonName string) bool {
		short := id(canonName)
		if len(short) < 2 && !strings.HasPrefix(canonName, "--") {
			return false
		}
		for f := range forbidden {
			if len(f) > len(short) && strings.HasPrefix(f, short) {
				return true
			}
		}
		return false
	}
	allowed := map[string]bool{}
	flags := map[string]bool{}
	for _, o := range sc.AllowedOptions {
		allowed[o] = true
	}
	for _, o := range sc.AllowedOptionsWithoutArgs {
		allowed[o], flags[id(o)] = true, true
	}
	repeatable := map[string]bool{}
	for _, o := range sc.RepeatableOptions {
		repeatable[id(o)] = true
	}
	patterns := map[string]*regexp.Regexp{}
	for o, re := range sc.RestrictedOptionsRegex {
		patterns[id(o)] = regexp.MustCompile(`^(?:` + re + `)$`)
	}
	validName := regexp.MustCompile(`^-{1,2}[A-Za-z0-9][A-Za-z0-9._-]*$`)

	counts := map[string]int{}
	endOfOptions := false
	for i := 0; i < len(caller); i++ {
		tok := caller[i]
		canon := confusableFold(tok)
		optionLike := strings.HasPrefix(canon, "-") && tok != "-"
		name, value, hasValue := strings.Cut(tok, "=")
		canonName, _, _ := strings.Cut(canon, "=")
		if optionLike && tok != "--" && forbidden[id(canonName)] {
			return "restricted or hardcoded option " + tok + " accepted"
		}
		if optionLike && tok != "--" && (endOfOptions || sc.AllowedOptions == nil) && abbreviates(canonName) {
			return "abbreviation of a restricted or hardcoded option accepted: " + tok
		}
		if endOfOptions {
			continue
		}
		if tok == "--" {
			if !sc.AllowPositionalArgs {
				return "-- accepted without allow_positional_args"
			}
			endOfOptions = true
			continue
		}
		if !optionLike {
			if !sc.AllowPositionalArgs {
				return "positional argument " + tok + " accepted"
			}
			continue
		}
		if !validName.MatchString(name) {
			return "option with an invalid name accepted: " + tok
		}
		if sc.AllowedOptions != nil && !allowed[name] {
			return "option not allowed as spelled: " + name
		}
		counts[id(name)]++
		if counts[id(name)] > 1 && !repeatable[id(name)] {
			return "option repeated: " + name
		}
		if flags[id(name)] {
			if hasValue {
				return "flag with a value: " + tok
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(caller) {
				return "option without a value: " + tok
			}
			i++
			value = caller[i]
			if v := confusableFold(value); strings.HasPrefix(v, "-") && value != "-" {
				return "option value that reads as an option: " + value
			}
		}
		if re := patterns[id(name)]; re != nil && !re.MatchString(value) {
			return "value " + value + " of " + name + " does not match its pattern"
		}
	}
	return ""
}

// confusableFold folds what a human or a lenient parser could read as
// ASCII: it drops leading blanks and invisible characters, maps every
// dash, hyphen and minus to '-', fullwidth forms to ASCII and common
// Cyrillic and Greek look-alikes to Latin letters, and lower-cases.
func confusableFold(s string) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Zs) ||
			r == 0x3164 || r == 0x115F || r == 0x1160 || r == 0xFFA0 || r == 0x2800
	})
	var b strings.Builder
	for _, r := range s {
		r = unicode.ToLower(r)
		switch {
		case unicode.Is(unicode.Pd, r) || strings.ContainsRune("\u00ad\u02d7\u2043\u207b\u208b\u2212\u2796\ufe63\uff0d\u1680", r):
			r = '-'
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		}
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'һ': 'h', 'і': 'i', 'ј': 'j', 'к': 'k',
	'ӏ': 'l', 'м': 'm', 'о': 'o', 'р': 'p', 'ԛ': 'q', 'ѕ': 's', 'т': 't', 'у': 'y', 'ԝ': 'w', 'х': 'x',
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{
		``, `a b`, `'a b'`, `"a \"b\""`, `a\ b`, "a\\\nb", `'it'\''s'`, `"$HOME" '$HOME'`,
		`'unterminated`, `"unterminated`, `trailing\`, `"\\"`, `""''`, "a\x00b", "--path 'x y' --ref=\"main\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		special := strings.ContainsAny(s, `'"\`)
		if err != nil {
			if !special {
				t.Fatalf("SplitWords(%q) failed without quotes or backslashes: %v", s, err)
			}
			return
		}
		if !special {
			want := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(words, want) {
				t.Fatalf("SplitWords(%q) = %q, want %q", s, words, want)
			}
		}
		// Quoting every word with single quotes and splitting again gives
		// the same words.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := SplitWords(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("re-splitting %q: %q, %v; want %q", s, again, err, words)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, path := range []string{"testdata/policy.yaml", "../../internal/cli/example/deployer.yaml", "testdata/edr/container_images.json"} {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte(`{"containers": {"c": {"image": "x", "script_config": {"s": {"allowed_options": null}}}}}`))
	f.Add([]byte("containers:\n  c: &a\n    image: x\n    script_config: {s: {}}\n  d: *a\n"))
	f.Add([]byte("containers:\n  c:\n    image: x\n    timeout: 1h\n    max_timeout: 30m\n    script_config:\n      s:\n        restricted_options_regex: {--x: \"(\"}\n"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "/nonexistent-base")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Parse error %v is not a *ConfigError with problems", err)
			}
			for _, pr := range ce.Problems {
				if pr.Message == "" || strings.ContainsAny(pr.Message+pr.Path, "\n\r") {
					t.Fatalf("problem is not one line: %q", pr)
				}
			}
			return
		}
		cfg := p.Config()
		raw, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := Parse(raw, "/")
		if err != nil {
			t.Fatalf("the loaded configuration does not load again: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(p2.Config(), cfg) {
			t.Fatalf("configuration changed on a second load")
		}
		for _, c := range p.Describe(schemas.Identity{Principal: "user:x"}) {
			for _, s := range c.Scripts {
				_, _ = p.Resolve(request(c.Name, s.Name, "--x", "y"), schemas.Identity{Principal: "user:x"}, testNow)
			}
		}
	})
}

// FuzzImportEDR: a variable file in HCL native syntax (.tfvars, Terragrunt
// .hcl) or JSON imports to YAML that loads, or to an error; the comments
// are one line each; today's JSON entry point (ImportEDR) converts the same
// bytes to a configuration that loads, or to an error, with one-line notes;
// nothing panics.
func FuzzImportEDR(f *testing.F) {
	for _, name := range []string{"standard.tfvars", "terragrunt.hcl", "standard.tfvars.json", "container_images.json"} {
		if data, err := os.ReadFile("testdata/edr/" + name); err == nil {
			f.Add(name, data)
		}
	}
	f.Add("a.tfvars", []byte("terraform_planner_config = {\n  container_image = { docker_image = \"i\", docker_tag = \"1\" }\n  infrastructure_live_repositories = [\"r\", \"s\"]\n}\n"))
	f.Add("a.hcl", []byte("locals {\n  a = local.b\n  b = { docker_image = \"i\" }\n}\ninputs = {\n  terraform_applier_config = { container_image = local.a, allowed_apply_git_refs = null, allowed_update_variable_names = [\"tag\"] }\n}\n"))
	f.Add("a.tfvars", []byte("docker_image_builder_config = { container_image = { docker_image = \"i\" }, allowed_repos_regex = [\"(?=x)\"] }\ncontainer_cpu = 256\ncontainer_memory = 512\n"))
	f.Add("a.tfvars.json", []byte(`{"ami_builder_config": {"container_image": {"docker_image": "i", "docker_tag": "sha256:ab"}, "allowed_repos": ["${x}"]}}`))
	f.Add("container_images.json", []byte(`{"variable": {"container_images": {"default": {"c": {"docker_image": "i", "docker_tag": "sha256:ab", "script_config": {"s": {"allowed_options": null}}}}}}}`))
	f.Add("x.json", []byte(`{"c": {"docker_image": "i", "script_config": {"s": {"restricted_options_regex": {"--x": "(?i)a"}, "hardcoded_options": ["--a"]}}, "default": true}}`))
	f.Add("x.json", []byte(`{"container_images": {"c\n": {"docker_image": "i", "script_config": {"s\r": {}}}}}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		fuzzLegacyImportEDR(t, data)
		imp, err := importEDRFile(name, data, EDRImportOptions{ScriptsDir: "scripts"})
		if err != nil && !errors.As(err, new(*ConfigError)) {
			if imp != nil {
				t.Fatalf("a reading error came with an import: %v", err)
			}
			return
		}
		out, yerr := imp.YAML(name)
		if yerr != nil {
			t.Fatal(yerr)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "#") && strings.ContainsAny(trimmed, "\r\x00") {
				t.Fatalf("comment line carries a control character: %q", line)
			}
		}
		if err != nil {
			return
		}
		if _, err := Parse(out, "/"); err != nil {
			t.Fatalf("an import that succeeded does not load: %v\n%s", err, out)
		}
	})
}

func fuzzLegacyImportEDR(t *testing.T, data []byte) {
	cfg, notes, err := ImportEDR(data)
	for _, n := range notes {
		if n == "" || strings.ContainsAny(n, "\n\r") {
			t.Fatalf("note is not one line: %q", n)
		}
	}
	if err != nil {
		return
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(raw, "/"); err != nil {
		t.Fatalf("an import that succeeded does not load: %v\n%s", err, raw)
	}
}
