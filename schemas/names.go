package schemas

// The shapes of names and ids are checked by hand rather than with
// regular expressions: a bounded repetition such as {0,63} compiles to a
// program of that many copies, and this package is linked into every
// deployer process, which would build them all before main. Each function
// states the expression it is equivalent to; names_test.go holds it to
// that expression (and to the pattern of the JSON schema that has one).

// ValidName reports whether s is a container, script, lane or schedule
// name: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (config.schema.json,
// #/$defs/name). A name that does not match can never be allow-listed.
func ValidName(s string) bool { return isName(s, 64) }

// ValidOptionName reports whether s is an option as a configuration spells
// it: ^-{1,2}[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ (config.schema.json,
// #/$defs/optionName).
func ValidOptionName(s string) bool {
	rest := s
	for i := 0; i < 2 && len(rest) > 0 && rest[0] == '-'; i++ {
		rest = rest[1:]
	}
	return len(rest) < len(s) && isName(rest, 128)
}

// ValidEnvName reports whether s is an environment variable name a task
// may be given: ^[A-Za-z_][A-Za-z0-9_]*$. (A configuration's names are
// also at most 255 bytes: config.schema.json, #/$defs/envName.)
func ValidEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// isName is ^[A-Za-z0-9][A-Za-z0-9._-]{0,max-1}$.
func isName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isULID is ^[0-9A-HJKMNP-TV-Z]{26}$: a ULID in Crockford's base32,
// upper case.
func isULID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if ok := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U'; !ok {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
