package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/schemas"
)

// Limits beyond the batch's own (schemas.MaxBatchJobs, MaxBatchNameBytes).
const (
	// maxArgs and maxArgBytes are the gatekeeper's limits
	// (policy.MaxArgs, policy.MaxArgBytes; a test keeps them equal),
	// checked here so that a manifest fails before any of its jobs is
	// submitted.
	maxArgs     = 256
	maxArgBytes = 4 * 1024
	// maxEntries bounds a matrix's include and exclude lists.
	maxEntries = schemas.MaxBatchJobs
	// maxExpandedBytes bounds the arguments and keys of the whole
	// expanded batch, so that long arguments multiplied by a matrix
	// cannot exhaust memory.
	maxExpandedBytes = 16 << 20
	// maxProblems bounds the problems reported for one manifest.
	maxProblems = 25
)

// keyPattern and refPattern are compiled when first used, not at
// start-up.
var (
	keyPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`) })
	refPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^matrix\.([A-Za-z_][A-Za-z0-9_-]*)$`) })
)

// parser collects the problems of one manifest.
type parser struct {
	source   string
	problems []Problem
	full     bool
}

func (p *parser) add(n *yaml.Node, format string, args ...any) {
	if p.full {
		return
	}
	if len(p.problems) == maxProblems {
		p.problems = append(p.problems, Problem{Message: "too many problems; fix these first"})
		p.full = true
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) failed() bool { return len(p.problems) > 0 }

func (p *parser) err() error {
	if !p.failed() {
		return nil
	}
	return &Error{Source: p.source, Problems: p.problems}
}

// spec is a manifest as written, checked but not expanded.
type spec struct {
	name        string
	maxInFlight int
	failFast    bool
	jobs        []*jobSpec
}

// jobSpec is one entry of jobs, checked but not expanded.
type jobSpec struct {
	node              *yaml.Node
	where             string // "job 2 (demo/plan)", for messages
	container, script string
	name              template
	nameNode          *yaml.Node // nil when the job has no name
	args              []template
	argNodes          []*yaml.Node
	matrix            *matrix
	timeout           time.Duration
	cpu, memory       int
}

func parse(data []byte, source string) (*Manifest, error) {
	p := &parser{source: source}
	if len(data) > MaxBytes {
		p.add(nil, "manifest is larger than %d bytes", MaxBytes)
		return nil, p.err()
	}
	root := p.document(data)
	if p.failed() {
		return nil, p.err()
	}
	s := p.manifest(root)
	if p.failed() {
		return nil, p.err()
	}
	m := p.expand(s)
	if p.failed() {
		return nil, p.err()
	}
	return m, nil
}

// document parses data as exactly one YAML document without anchors or
// aliases and returns its root node.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(nil, "manifest is empty: it needs a name and jobs")
		} else {
			p.add(nil, "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		p.add(nil, "manifest has more than one YAML document (---); put every job in one")
		return nil
	}
	// Refuse anchors and aliases outright, before anything reads the
	// tree: an alias is never followed, so no expansion can explode.
	stack := []*yaml.Node{&doc}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode {
			p.add(n, "YAML aliases (*%s) are not allowed: write the value out", n.Value)
			continue
		}
		if n.Anchor != "" {
			p.add(n, "YAML anchors (&%s) are not allowed", n.Anchor)
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
	if p.failed() {
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.add(nil, "manifest is empty: it needs a name and jobs")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.add(root, "manifest must be a mapping with name and jobs, not %s", describe(root))
		return nil
	}
	return root
}

// manifest checks the top-level mapping.
func (p *parser) manifest(root *yaml.Node) *spec {
	s := &spec{}
	var hasName, hasJobs bool
	p.fields(root, "manifest", func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			hasName = true
			if name, ok := p.str(v, "name"); ok {
				if msg := checkLabel(name); msg != "" {
					p.add(v, "name %s", msg)
				} else if name == "" {
					p.add(v, "name is empty")
				}
				s.name = name
			}
		case "max_in_flight":
			s.maxInFlight, _ = p.count(v, "max_in_flight")
		case "fail_fast":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				p.add(v, "fail_fast must be true or false, not %s", describe(v))
			} else if err := v.Decode(&s.failFast); err != nil {
				p.add(v, "fail_fast: %v", err)
			}
		case "jobs":
			hasJobs = true
			s.jobs = p.jobs(v)
		default:
			p.add(k, "unknown field %q; a manifest has name, max_in_flight, fail_fast and jobs", key)
		}
	})
	if !hasName {
		p.add(root, "name is required")
	}
	if !hasJobs {
		p.add(root, "jobs is required")
	}
	return s
}

func (p *parser) jobs(n *yaml.Node) []*jobSpec {
	if n.Kind != yaml.SequenceNode {
		p.add(n, "jobs must be a list, not %s", describe(n))
		return nil
	}
	switch {
	case len(n.Content) == 0:
		p.add(n, "jobs is empty: a batch needs at least one job")
		return nil
	case len(n.Content) > schemas.MaxBatchJobs:
		p.add(n, "jobs lists %d jobs, at most %d", len(n.Content), schemas.MaxBatchJobs)
		return nil
	}
	out := make([]*jobSpec, 0, len(n.Content))
	for i, jn := range n.Content {
		out = append(out, p.job(i, jn))
	}
	return out
}

// job checks one entry of jobs.
func (p *parser) job(i int, n *yaml.Node) *jobSpec {
	j := &jobSpec{node: n, where: fmt.Sprintf("job %d", i+1)}
	if n.Kind != yaml.MappingNode {
		p.add(n, "%s must be a mapping with container and script, not %s", j.where, describe(n))
		return j
	}
	// Name the job by its container and script in every message.
	var c, s string
	for k := 0; k+1 < len(n.Content); k += 2 {
		switch n.Content[k].Value {
		case "container":
			c = n.Content[k+1].Value
		case "script":
			s = n.Content[k+1].Value
		}
	}
	if c != "" || s != "" {
		j.where += " (" + show(c) + "/" + show(s) + ")"
	}
	var hasContainer, hasScript bool
	var argNodes []*yaml.Node
	p.fields(n, j.where, func(key string, k, v *yaml.Node) {
		switch key {
		case "container":
			hasContainer = true
			j.container = p.name(v, j.where, "container")
		case "script":
			hasScript = true
			j.script = p.name(v, j.where, "script")
		case "name":
			if name, ok := p.str(v, j.where+": name"); ok {
				if name == "" {
					p.add(v, "%s: name is empty; leave it out instead", j.where)
				} else if !printable(name) {
					// The length that counts is the key's, after
					// substitution.
					p.add(v, "%s: name %s has a character that is not printable (it must be one line)", j.where, show(name))
				}
				j.nameNode = v
			}
		case "args":
			if v.Kind != yaml.SequenceNode {
				p.add(v, "%s: args must be a list of strings, not %s", j.where, describe(v))
				return
			}
			if len(v.Content) > maxArgs {
				p.add(v, "%s: args has %d arguments, at most %d", j.where, len(v.Content), maxArgs)
				return
			}
			argNodes = v.Content
		case "matrix":
			j.matrix = p.matrix(v, j.where)
		case "timeout":
			j.timeout = p.duration(v, j.where)
		case "task_cpu":
			j.cpu, _ = p.count(v, j.where+": task_cpu")
		case "task_memory":
			j.memory, _ = p.count(v, j.where+": task_memory")
		default:
			p.add(k, "%s: unknown field %q; a job has container, script, name, args, matrix, timeout, task_cpu and task_memory", j.where, key)
		}
	})
	if !hasContainer {
		p.add(n, "%s: container is required", j.where)
	}
	if !hasScript {
		p.add(n, "%s: script is required", j.where)
	}
	// Compile the substitutions once the matrix's keys are known.
	var keys map[string]bool
	if j.matrix != nil {
		keys = make(map[string]bool, len(j.matrix.all))
		for _, k := range j.matrix.all {
			keys[k] = true
		}
	}
	if j.nameNode != nil {
		t, msg := compile(j.nameNode.Value, keys, j.matrix != nil)
		if msg != "" {
			p.add(j.nameNode, "%s: name %s", j.where, msg)
		}
		j.name = t
	}
	for a, an := range argNodes {
		text, ok := p.scalar(an, fmt.Sprintf("%s: args[%d]", j.where, a))
		if !ok {
			continue
		}
		if len(text) > maxArgBytes {
			p.add(an, "%s: args[%d] is %d bytes, at most %d", j.where, a, len(text), maxArgBytes)
			continue
		}
		t, msg := compile(text, keys, j.matrix != nil)
		if msg != "" {
			p.add(an, "%s: args[%d] %s", j.where, a, msg)
			continue
		}
		j.args = append(j.args, t)
		j.argNodes = append(j.argNodes, an)
	}
	return j
}

// fields calls fn for each pair of mapping n, refusing keys that are not
// strings and keys given twice.
func (p *parser) fields(n *yaml.Node, where string, fn func(key string, k, v *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			p.add(k, "%s: YAML merge keys (<<) are not allowed", where)
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			p.add(k, "%s: key %s is not a string", where, describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.add(k, "%s: %s is given twice (first at line %d)", where, show(k.Value), line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
}

// str returns the value of a string field.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.add(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// name returns a container or script name.
func (p *parser) name(n *yaml.Node, where, what string) string {
	s, ok := p.str(n, where+": "+what)
	if !ok {
		return ""
	}
	if !schemas.ValidName(s) { // a name that does not match can never be allow-listed
		p.add(n, "%s: %s %s is not a valid name: a letter or digit, then letters, digits, '.', '_' or '-', at most 64 characters", where, what, show(s))
	}
	return s
}

// scalar returns the text of an argument or matrix value: a string, or a
// number or boolean as written.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.add(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool":
		return n.Value, true
	case "!!null":
		p.add(n, "%s is null; write a value (quote it for an empty string)", what)
	default:
		p.add(n, "%s has the tag %s; only strings, numbers and booleans are allowed", what, n.ShortTag())
	}
	return "", false
}

// count returns a non-negative integer field.
func (p *parser) count(n *yaml.Node, what string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.add(n, "%s must be an integer, not %s", what, describe(n))
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		p.add(n, "%s %s is out of range", what, n.Value)
		return 0, false
	}
	if v < 0 {
		p.add(n, "%s must not be negative, got %d", what, v)
		return 0, false
	}
	return v, true
}

// duration returns a job's timeout.
func (p *parser) duration(n *yaml.Node, where string) time.Duration {
	s, ok := p.str(n, where+": timeout")
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.add(n, "%s: timeout %s is not a duration: use a Go duration such as \"90s\", \"30m\" or \"2h\"", where, show(s))
	case d <= 0:
		p.add(n, "%s: timeout %s must be positive", where, show(s))
	}
	return d
}

// checkLabel applies schemas.BatchSpec's rules for a batch's name and a
// job's key; it returns what is wrong, or "".
func checkLabel(s string) string {
	if len(s) > schemas.MaxBatchNameBytes {
		return fmt.Sprintf("is %d bytes, at most %d", len(s), schemas.MaxBatchNameBytes)
	}
	if !printable(s) {
		return fmt.Sprintf("%s has a character that is not printable (it must be one line)", show(s))
	}
	return ""
}

// printable reports whether s is UTF-8 made of printable characters only
// (unicode.IsPrint: no control characters, no line breaks).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "the string " + show(n.Value)
		case "!!int", "!!float":
			return "the number " + show(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return "a value tagged " + n.ShortTag()
	}
	return "an unexpected YAML node"
}

// show quotes s for a message when it is not a plain word, so that control
// characters in a hostile manifest cannot reach a terminal.
func show(s string) string {
	if s != "" && len(s) <= 64 && keyPattern().MatchString(strings.ReplaceAll(s, ".", "_")) {
		return s
	}
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
