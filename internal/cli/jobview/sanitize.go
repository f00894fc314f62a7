package jobview

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sanitize returns one line of a task's output as it may be shown to a
// terminal or a CI log: the task is not trusted, and nothing it writes
// may act on what displays it.
//
//   - Escape sequences (cursor movement, clearing, titles and hyperlinks
//     (OSC), mode changes, anything but colour) are shown as text: the
//     ESC byte becomes \x1b and what followed it prints as it was.
//   - SGR colour sequences (ESC [ digits ; : m) pass when sgr is set
//     (a colour terminal), and the line then ends with a reset, so
//     colour never leaks into the next line or into deployer's own; the
//     concealed attribute (8) is shown as text instead, so a line cannot
//     hide itself. Without sgr, colour sequences are removed.
//   - Other control characters but the tab (CR, BS, BEL, NUL, DEL, the C1
//     controls including the 8-bit CSI), the Unicode line and paragraph
//     separators, the bidirectional controls and invalid UTF-8 are Go
//     escapes (\r, \b, \u0085, \u2028, \u202e, \xff). A CR that ends the
//     line (a CRLF line end) is dropped.
//
// The result is one line (no LF, no CR) whatever s holds, and s itself
// when it holds none of the above.
func Sanitize(s string, sgr bool) string {
	s = strings.TrimSuffix(s, "\r")
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	colored := false
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0x1b {
			n, ok, hides := sgrAt(s[i:])
			switch {
			case ok && !sgr:
				i += n // colour is dropped
			case ok && !hides:
				b.WriteString(s[i : i+n])
				colored = true
				i += n
			default:
				b.WriteString(`\x1b`) // the rest prints as text
				i++
			}
			continue
		}
		if c < utf8.RuneSelf {
			if c == '\t' || c >= 0x20 && c != 0x7f {
				b.WriteByte(c)
			} else {
				q := strconv.QuoteRuneToASCII(rune(c))
				b.WriteString(q[1 : len(q)-1])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	if colored {
		b.WriteString(sgrReset)
	}
	return b.String()
}

// clean reports whether s holds nothing Sanitize changes. Most lines are
// printable ASCII, which it checks eight bytes at a time: every line a
// follower prints goes through here.
func clean(s string) bool {
	for i := 0; i < len(s); {
		if i+8 <= len(s) && printable8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\t' && (c < 0x20 || c == 0x7f) {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// printable8 reports whether the 8 bytes of s are all printable ASCII
// (0x20 to 0x7e), by arithmetic on them as one word: a byte at or above
// 0x80 has its top bit set; one below 0x20 borrows when 0x20 is taken
// from it; DEL is the byte that is zero once XORed with 0x7f. (A borrow
// can mark a wrong byte, never a word with none.)
func printable8(s string) bool {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	del := x ^ 0x7f*ones
	return (x|(x-0x20*ones)&^x|(del-ones)&^del)&tops == 0
}

// unsafeRune reports whether a non-ASCII rune is one a terminal or a log
// viewer may act on: a C1 control, a line or paragraph separator, or a
// bidirectional control (which reorders what follows it on screen).
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// SGR sequences of deployer's own colours.
const (
	sgrReset  = "\x1b[0m"
	sgrRed    = "\x1b[1;31m"
	sgrGreen  = "\x1b[1;32m"
	sgrYellow = "\x1b[1;33m"
	sgrCyan   = "\x1b[36m"
	sgrBold   = "\x1b[1m"
)

const hexDigits = "0123456789abcdef"

// maxSGR bounds the length of a colour sequence taken as one; a longer
// one is shown as text.
const maxSGR = 64

// sgrAt reports whether s starts with an SGR sequence (ESC [ params m,
// params digits, ';' and ':' only) and how long it is; hides reports
// that it sets the concealed attribute.
func sgrAt(s string) (n int, ok, hides bool) {
	if len(s) < 3 || s[1] != '[' {
		return 0, false, false
	}
	for j := 2; j < len(s) && j < maxSGR; j++ {
		switch c := s[j]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return j + 1, true, conceals(s[2:j])
		default:
			return 0, false, false
		}
	}
	return 0, false, false
}

// conceals reports whether SGR parameters set the concealed attribute
// (8), skipping the colour values of 38, 48 and 58 (5;N or 2;R;G;B).
func conceals(params string) bool {
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		p := ps[i]
		if strings.Contains(p, ":") {
			continue // 38:2::R:G:B and the like carry their values inside
		}
		switch strings.TrimLeft(p, "0") {
		case "8":
			return true
		case "38", "48", "58":
			if i+1 < len(ps) {
				switch ps[i+1] {
				case "5":
					i += 2
				case "2":
					i += 4
				}
			}
		}
	}
	return false
}

// noGitHubCommand rewrites s so that no "##[" is left in it, even with
// characters outside ASCII between its three (the runner finds the
// ##[command] form of a workflow command anywhere in a line, with a
// culture-aware search that skips characters it deems ignorable): a '['
// that follows "##" becomes \x5b. The "::command::" form needs "::" at
// the start of the line, which a task line inside a stop-commands region
// cannot use and deployer's status lines never have.
func noGitHubCommand(s string) string { return breakHashBracket(s, `\x5b`) }

// noGitHubCommandJSON is noGitHubCommand for a JSON document, where the
// '[' becomes \u005b: the same value. A '[' that follows "##" is in a
// string, as no '#' is outside one.
func noGitHubCommandJSON(b []byte) []byte {
	s := string(b)
	if t := breakHashBracket(s, `\u005b`); t != s {
		return []byte(t)
	}
	return b
}

// breakHashBracket replaces each '[' that follows two '#' (looking at
// ASCII bytes only: other bytes neither count nor break the run) with
// esc.
func breakHashBracket(s, esc string) string {
	if !strings.Contains(s, "[") || strings.Count(s, "#") < 2 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	hashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[' && hashes >= 2:
			b.WriteString(esc)
			hashes = 0
			continue
		case c == '#':
			hashes++
		case c < utf8.RuneSelf:
			hashes = 0
		}
		b.WriteByte(c)
	}
	return b.String()
}

// noBuildkiteHeader rewrites a line Buildkite would read as a group
// header ("--- ", "+++ ", "~~~ " or "^^^ +++" at its start, after any
// blanks) so that it is not one: the marker's first character becomes a
// Go escape (\x2d-- title). The line stays whole and readable, and the
// escape says what was done, as \x1b does for terminals.
func noBuildkiteHeader(s string) string {
	rest := strings.TrimLeft(s, " \t")
	if len(rest) < 3 {
		return s
	}
	marker := rest[:3]
	switch marker {
	case "---", "+++", "~~~", "^^^":
	default:
		return s
	}
	if len(rest) > 3 && rest[3] != ' ' && rest[3] != '\t' {
		return s // "-----BEGIN", "+++b/file": not a header
	}
	lead := len(s) - len(rest)
	return s[:lead] + `\x` + strconv.FormatUint(uint64(marker[0]), 16) + rest[1:]
}
