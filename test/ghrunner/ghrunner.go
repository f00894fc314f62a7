// Package ghrunner models how the GitHub Actions runner reads a step's
// output for workflow commands, for tests that check what a step's output
// makes the runner do: which outputs, environment variables, state,
// masks, paths, annotations and groups it sets. It follows actions/runner
// (src/Runner.Common/ActionCommand.cs: TryParseV2 and TryParse;
// src/Runner.Worker/ActionCommandManager.cs: TryProcessCommand,
// ValidateStopToken and the command extensions).
//
// The model is more eager than the runner, never less, so that a test it
// passes the runner passes too:
//
//   - The runner compares "::" and "##[" with culture-aware searches,
//     which skip characters ICU deems ignorable. The model deletes every
//     control and format character (Unicode Cc and Cf), variation
//     selector and U+034F from a line before it looks for a command.
//   - set-env and add-path act in the model although the runner refuses
//     them unless ACTIONS_ALLOW_UNSECURE_COMMANDS is set, and notice acts
//     whatever the server's features.
package ghrunner

import (
	"strings"
	"unicode"
)

// Command is a workflow command as the runner parses it.
type Command struct {
	Name       string
	Properties map[string]string
	Data       string
}

// Annotation is an error, warning or notice annotation.
type Annotation struct {
	Level      string
	Properties map[string]string
	Message    string
}

// Runner is one step's command processing. The zero value is not ready:
// use New.
type Runner struct {
	// What the step's commands did.
	Outputs     map[string]string
	Env         map[string]string
	State       map[string]string
	Masks       []string
	Paths       []string
	Matchers    []string
	Annotations []Annotation
	// Groups holds the titles of the groups opened, in order; Depth is
	// how many are open (groups do not nest in the log: a group opens
	// over an open one).
	Groups []string
	Depth  int
	// Commands holds every command acted on, stop-commands and the
	// resume included, in order.
	Commands []Command
	// Refused holds the commands the runner refused (a stop-commands
	// token it does not take).
	Refused []Command

	stopped bool
	token   string
}

// New returns the command processing of a step that has just begun.
func New() *Runner {
	return &Runner{Outputs: map[string]string{}, Env: map[string]string{}, State: map[string]string{}}
}

// Stopped reports whether commands are stopped (stop-commands without
// its resume token yet), and the token that resumes them.
func (r *Runner) Stopped() (bool, string) { return r.stopped, r.token }

// registered are the runner's command names (case-insensitive).
var registered = []string{
	"stop-commands", "set-env", "set-output", "save-state", "add-mask", "add-path",
	"add-matcher", "remove-matcher", "debug", "warning", "error", "notice",
	"group", "endgroup", "echo",
}

// Registered reports whether name is one of the runner's commands.
func Registered(name string) bool {
	for _, c := range registered {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// Line processes one line of output as the runner does, and reports
// whether the runner took it as a command.
func (r *Runner) Line(line string) bool {
	extra := ""
	if r.stopped {
		extra = r.token
	}
	c, ok := Parse(line, extra)
	if !ok {
		return false
	}
	if r.stopped {
		if strings.EqualFold(c.Name, r.token) {
			r.stopped, r.token = false, ""
			r.Commands = append(r.Commands, c)
			return true
		}
		return false
	}
	name := strings.ToLower(c.Name)
	if name == "stop-commands" {
		if c.Data == "" || Registered(c.Data) || strings.EqualFold(c.Data, "pause-logging") {
			r.Refused = append(r.Refused, c)
			return true
		}
		r.stopped, r.token = true, c.Data
		r.Commands = append(r.Commands, c)
		return true
	}
	r.Commands = append(r.Commands, c)
	switch name {
	case "set-output":
		r.Outputs[c.Properties["name"]] = c.Data
	case "set-env":
		r.Env[c.Properties["name"]] = c.Data
	case "save-state":
		r.State[c.Properties["name"]] = c.Data
	case "add-mask":
		r.Masks = append(r.Masks, c.Data)
	case "add-path":
		r.Paths = append(r.Paths, c.Data)
	case "add-matcher", "remove-matcher":
		r.Matchers = append(r.Matchers, c.Data)
	case "error", "warning", "notice":
		r.Annotations = append(r.Annotations, Annotation{Level: name, Properties: c.Properties, Message: c.Data})
	case "group":
		r.Groups = append(r.Groups, c.Data)
		r.Depth++
	case "endgroup":
		r.Depth = max(r.Depth-1, 0)
	}
	return true
}

// Parse returns the command line holds for the runner, in the
// "::name props::data" form or else the "##[name props]data" form, with
// extra a name registered besides the runner's (the resume token while
// commands are stopped). Whether commands are stopped is not its
// business: a line that may be read at any point (stderr, which the
// runner reads apart from stdout) is safe when Parse finds nothing.
func Parse(line, extra string) (Command, bool) {
	line = stripIgnorable(line)
	known := func(name string) bool { return Registered(name) || extra != "" && strings.EqualFold(name, extra) }
	if c, ok := parseV2(line, known); ok {
		return c, true
	}
	return parseV1(line, known)
}

// parseV2 is ActionCommand.TryParseV2.
func parseV2(msg string, known func(string) bool) (Command, bool) {
	msg = strings.TrimLeftFunc(msg, unicode.IsSpace)
	if !strings.HasPrefix(msg, "::") {
		return Command{}, false
	}
	end := strings.Index(msg[2:], "::")
	if end < 0 {
		return Command{}, false
	}
	info := msg[2 : 2+end]
	name, props, hasProps := strings.Cut(info, " ")
	if !known(name) {
		return Command{}, false
	}
	c := Command{Name: name, Properties: map[string]string{}}
	if hasProps && name != "" {
		for _, p := range strings.Split(strings.TrimSpace(props), ",") {
			if p == "" {
				continue
			}
			k, v, ok := strings.Cut(p, "=")
			if ok && k != "" && v != "" {
				c.Properties[k] = unescape(v, propertyEscapes)
			}
		}
	}
	c.Data = unescape(msg[2+end+2:], dataEscapes)
	return c, true
}

// parseV1 is ActionCommand.TryParse: "##[" anywhere in the line.
func parseV1(msg string, known func(string) bool) (Command, bool) {
	i := strings.Index(msg, "##[")
	if i < 0 {
		return Command{}, false
	}
	rb := strings.IndexByte(msg[i:], ']')
	if rb < 0 {
		return Command{}, false
	}
	info := msg[i+3 : i+rb]
	name, props, hasProps := strings.Cut(info, " ")
	if !known(name) {
		return Command{}, false
	}
	c := Command{Name: name, Properties: map[string]string{}}
	if hasProps {
		for _, p := range strings.Split(props, ";") {
			if p == "" {
				continue
			}
			k, v, ok := strings.Cut(p, "=")
			if ok && k != "" && v != "" {
				c.Properties[k] = unescape(v, v1Escapes)
			}
		}
	}
	c.Data = unescape(msg[i+rb+1:], v1Escapes)
	return c, true
}

// The runner's escapes, in the order it undoes them.
var (
	dataEscapes     = [][2]string{{"\r", "%0D"}, {"\n", "%0A"}, {"%", "%25"}}
	propertyEscapes = [][2]string{{"\r", "%0D"}, {"\n", "%0A"}, {":", "%3A"}, {",", "%2C"}, {"%", "%25"}}
	v1Escapes       = [][2]string{{";", "%3B"}, {"\r", "%0D"}, {"\n", "%0A"}, {"]", "%5D"}, {"%", "%25"}}
)

func unescape(s string, mappings [][2]string) string {
	for _, m := range mappings {
		s = strings.ReplaceAll(s, m[1], m[0])
	}
	return s
}

// stripIgnorable deletes what a culture-aware comparison may skip: see
// the package comment.
func stripIgnorable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return r
		case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r),
			r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef, r == 0x034f:
			return -1
		}
		return r
	}, s)
}

// LogDirective reports the directive a line of the step's log would be
// drawn as by the log viewer ("group", "endgroup", "error", ...: a line
// that starts with "##[name]" after blanks), as the runner writes the
// commands it processes; "" for a plain line.
func LogDirective(line string) string {
	line = strings.TrimLeftFunc(stripIgnorable(line), unicode.IsSpace)
	rest, ok := strings.CutPrefix(line, "##[")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "]")
	if !ok {
		return ""
	}
	return strings.ToLower(name)
}
