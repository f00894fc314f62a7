package policy

import (
	"fmt"
	"strings"
)

// SplitWords splits s into words with POSIX shell quoting rules, as the
// ECS deploy runner's legacy string args were: blanks (space, tab,
// newline) separate words; single quotes keep everything literally; inside
// double quotes a backslash escapes only $, `, ", \ and newline; outside
// quotes a backslash escapes any character, and backslash-newline is a line
// continuation. Nothing is expanded or interpreted: $VAR, $(...), globs, ~,
// ';', '|' and '#' stay as written. A pair of empty quotes makes an empty
// word. An unterminated quote or a trailing backslash is an error, never a
// guess.
func SplitWords(s string) ([]string, error) {
	words := []string{}
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash at byte %d escapes nothing", i)
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case '"':
			start := i
			closed := false
			for i++; i < len(s); i++ {
				d := s[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						cur.WriteByte(s[i])
					}
					continue
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote at byte %d", start)
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
