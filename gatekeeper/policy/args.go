package policy

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a request's arguments. They bound the work Resolve does and
// the size of run orders; a legitimate deploy needs far less.
const (
	MaxArgs     = 256      // arguments per request, after splitting a legacy string
	MaxArgBytes = 4 * 1024 // bytes per argument
)

// tokenKind classifies one argument.
type tokenKind int

const (
	tokPositional   tokenKind = iota
	tokOption                 // "-name", "--name", optionally "=value"
	tokEndOfOptions           // "--"
	tokMalformed              // looks like an option but is not spelled as one
)

// classify says what an argument is. For options it returns the name as
// spelled (with its dashes, without "=value"), the value after '=', and
// whether there was one.
func classify(tok string) (k tokenKind, name, value string, hasValue bool) {
	if tok == "--" {
		return tokEndOfOptions, "", "", false
	}
	if tok == "-" {
		return tokPositional, "", "", false
	}
	if tok != "" && tok[0] == '-' {
		name, value, hasValue = strings.Cut(tok, "=")
		if !validOptionName(name) {
			return tokMalformed, "", "", false
		}
		return tokOption, name, value, hasValue
	}
	if looksLikeOption(tok) {
		return tokMalformed, "", "", false
	}
	return tokPositional, "", "", false
}

// validOptionName reports whether name is one or two ASCII dashes then a
// letter or digit, then letters, digits, '.', '_' or '-'.
func validOptionName(name string) bool {
	i := 0
	for i < len(name) && i < 2 && name[i] == '-' {
		i++
	}
	if i == 0 || i >= len(name) || !isAlnum(name[i]) {
		return false
	}
	for i++; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// looksLikeOption reports whether tok, after leading white space and
// invisible characters, starts with a dash or a dash look-alike: a script
// (or a careless shell loop) might take it for an option.
func looksLikeOption(tok string) bool {
	for _, r := range tok {
		if isInvisible(r) {
			continue
		}
		return isDashLike(r)
	}
	return false
}

// isDashLike reports whether r is a hyphen, dash or minus of any script.
func isDashLike(r rune) bool {
	if r == '-' || unicode.Is(unicode.Pd, r) {
		return true
	}
	switch r {
	case 0x00AD, // soft hyphen
		0x02D7, // modifier letter minus sign
		0x2043, // hyphen bullet
		0x207B, // superscript minus
		0x208B, // subscript minus
		0x2212, // minus sign
		0x2796, // heavy minus sign
		0xFE63, // small hyphen-minus
		0xFF0D, // fullwidth hyphen-minus
		0x1680: // ogham space mark (renders as a dash)
		return true
	}
	return false
}

// OptionID is the name the gatekeeper knows an option by, whatever its
// spelling: "--Deploy_Path" and "--deploy-path" are both "deploy-path".
// Restricted, hardcoded, flag, value-pattern and repeat checks compare
// these, and so must anything that predicts them (shell completion).
// name must be a valid option name (ASCII).
func OptionID(name string) string { return identity(name) }

// identity is the name an option is known by for restricted, hardcoded,
// flag, value-pattern and repeat checks: without leading dashes, lower
// case, '_' read as '-' (some parsers normalize one to the other). name
// must be a valid option name (ASCII).
func identity(name string) string {
	name = strings.TrimLeft(name, "-")
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' || c == '_' {
			return strings.ReplaceAll(strings.ToLower(name), "_", "-")
		}
	}
	return name
}

// badChar returns a description of the first character of arg that no
// argument may contain, or "".
func badChar(arg string) string {
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c < 0x80 {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Sprintf("control character U+%04X", c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(arg[i:])
		if r == utf8.RuneError && size == 1 {
			return "invalid UTF-8"
		}
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 {
			return fmt.Sprintf("control character U+%04X", r)
		}
		i += size - 1
	}
	return ""
}

// isInvisible reports whether r renders as nothing or as blank space, so
// that a dash after it still reads as the start of an option.
func isInvisible(r rune) bool {
	if unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Zs) {
		return true
	}
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800: // Hangul fillers, braille blank
		return true
	}
	return false
}
