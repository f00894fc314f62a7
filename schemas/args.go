package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Args is a job request's script arguments. On the wire it is an array of
// strings; for compatibility with the ECS deploy runner it may also be one
// legacy string, which the gatekeeper splits with POSIX shell-word rules. The
// split happens there, not here, so that an unterminated quote becomes a
// policy rejection the caller sees rather than an undecodable message.
type Args struct {
	// Words holds the arguments when they arrived as an array.
	Words []string
	// Legacy holds the single string when they arrived as one; IsLegacy
	// tells the two apart (an empty legacy string is still legacy).
	Legacy   string
	IsLegacy bool
}

// ArgList returns Args holding words as an array.
func ArgList(words ...string) Args { return Args{Words: words} }

// MarshalJSON encodes the array form, or the legacy string as it came.
func (a Args) MarshalJSON() ([]byte, error) {
	if a.IsLegacy {
		return json.Marshal(a.Legacy)
	}
	if a.Words == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(a.Words)
}

// UnmarshalJSON accepts an array of strings, a string, or null (no args).
func (a *Args) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*a = Args{}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		a.IsLegacy = true
		return json.Unmarshal(b, &a.Legacy)
	case len(b) > 0 && b[0] == '[':
		var words []string
		if err := json.Unmarshal(b, &words); err != nil {
			return fmt.Errorf("args must be an array of strings: %w", err)
		}
		a.Words = words
		return nil
	default:
		return fmt.Errorf("args must be an array of strings or one string, got %.20s", b)
	}
}
