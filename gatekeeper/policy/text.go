package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxShown is how many bytes of caller input a message repeats.
const maxShown = 80

// show renders caller input for a one-line message: plain when it is
// short printable ASCII without spaces or quotes, otherwise quoted with
// every control and non-ASCII character escaped (so look-alikes are
// visible), shortened past maxShown bytes.
func show(s string) string {
	plain := len(s) > 0 && len(s) <= maxShown
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == ',' || c == ';' {
			plain = false
		}
	}
	if plain {
		return s
	}
	return quote(s)
}

// quote always quotes, escaping like show.
func quote(s string) string {
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.QuoteToASCII(s[:cut]) + "..."
	}
	return strconv.QuoteToASCII(s)
}

// list renders names for a message, or none when there are none.
func list(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	return strings.Join(names, ", ")
}
