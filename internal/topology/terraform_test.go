package topology_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
)

// The Terraform modules, as this package's directory sees them.
const (
	deployerModule = "../../terraform/modules/deployer"
	callerModule   = "../../terraform/modules/ci-caller"
)

// spec is what the Terraform modules must agree with.
type spec struct {
	// queues are the module's aws_sqs_queue resources by name after
	// "${var.prefix}"; the lanes' one, with for_each, as
	// LaneQueue("${each.key}").
	queues map[string]queue.Config
	// cancelLane must be among the lanes' for_each, and refused as a lane
	// name by the lanes variable's validation.
	cancelLane string
	// patterns end the ARN patterns IAM grants ("${var.prefix}<p>*"):
	// each module's patterns must be these, and each of these must be
	// granted by the modules named.
	patterns map[string][]string
}

// goSpec is the Go side: the queues both backends create, with the
// configurations they create them with.
func goSpec() spec {
	return spec{
		queues: map[string]queue.Config{
			topology.RequestQueue:       topology.RequestQueueConfig(),
			topology.RequestDLQ:         topology.DeadLetterConfig(),
			topology.RunDLQ:             topology.DeadLetterConfig(),
			topology.LaneQueue(eachKey): topology.RunQueueConfig(),
		},
		cancelLane: topology.CancelLane,
		patterns: map[string][]string{
			topology.LaneQueuePrefix:   {"deployer"},
			topology.StreamQueuePrefix: {"deployer", "ci-caller"},
		},
	}
}

// The Terraform module creates the queues the Go code opens, with the
// same redrive limits, visibility timeouts and retention: Terraform cannot
// import Go, so this reads the module's .tf files.
func TestTerraformModulesMatch(t *testing.T) {
	modules := readModules(t)
	if err := check(modules, goSpec()); err != nil {
		t.Fatalf("terraform/modules disagree with internal/topology (change both sides together):\n%v", err)
	}
}

// The check fails when either side changes alone: each case changes one
// value on one side and must be reported.
func TestTerraformModulesMatchCatchesDrift(t *testing.T) {
	for _, tt := range []struct {
		name     string
		file     string // a module's file, "deployer/main.tf"
		old, new string // a change to it, or
		spec     func(*spec)
		says     string
	}{
		{name: "request redrive limit in Terraform", file: "deployer/main.tf",
			old: "maxReceiveCount     = 5", new: "maxReceiveCount     = 6", says: "maxReceiveCount 6, want 5"},
		{name: "run redrive limit in Terraform", file: "deployer/main.tf",
			old: "maxReceiveCount     = 10", new: "maxReceiveCount     = 3", says: "maxReceiveCount 3, want 10"},
		{name: "run redrive limit in Go", spec: func(s *spec) {
			c := s.queues[topology.LaneQueue(eachKey)]
			c.DeadLetter = &queue.Redrive{Queue: topology.RunDLQ, MaxReceiveCount: 11}
			s.queues[topology.LaneQueue(eachKey)] = c
		}, says: "maxReceiveCount 10, want 11"},
		{name: "redrive target", file: "deployer/main.tf",
			old: "deadLetterTargetArn = aws_sqs_queue.request_dlq.arn", new: "deadLetterTargetArn = aws_sqs_queue.run_dlq.arn",
			says: `redrives to "${var.prefix}runs-dlq", want "${var.prefix}requests-dlq"`},
		{name: "dead-letter queue name in Terraform", file: "deployer/main.tf",
			old: `"${var.prefix}requests-dlq"`, new: `"${var.prefix}requests-deadletter"`, says: "requests-deadletter"},
		{name: "request queue name in Go", spec: func(s *spec) {
			s.queues["jobrequests"] = s.queues[topology.RequestQueue]
			delete(s.queues, topology.RequestQueue)
		}, says: `no aws_sqs_queue named "${var.prefix}jobrequests"`},
		{name: "lane queue name in Terraform", file: "deployer/main.tf",
			old: `"${var.prefix}runs-lane-${each.key}"`, new: `"${var.prefix}run-lane-${each.key}"`, says: "run-lane-"},
		{name: "run visibility in Terraform", file: "deployer/main.tf",
			old: "visibility_timeout_seconds = 60", new: "visibility_timeout_seconds = 90", says: "visibility timeout 1m30s, want 1m0s"},
		{name: "run retention in Terraform", file: "deployer/main.tf",
			old:  "message_retention_seconds  = 4 * 86400\n  sqs_managed_sse_enabled    = true\n  redrive_policy = jsonencode({\n    deadLetterTargetArn = aws_sqs_queue.run_dlq.arn",
			new:  "message_retention_seconds  = 2 * 86400\n  sqs_managed_sse_enabled    = true\n  redrive_policy = jsonencode({\n    deadLetterTargetArn = aws_sqs_queue.run_dlq.arn",
			says: "retention 48h0m0s, want 96h0m0s"},
		{name: "dead-letter retention default in Terraform", file: "deployer/variables.tf",
			old: "default     = 14", new: "default     = 7", says: "retention 168h0m0s, want 336h0m0s"},
		{name: "cancel lane in Terraform", file: "deployer/main.tf",
			old: `cancel_lane        = "_cancel"`, new: `cancel_lane        = "_stop"`, says: "cancel lane"},
		{name: "cancel lane in Go", spec: func(s *spec) { s.cancelLane = "_stop" }, says: "cancel lane"},
		{name: "reserved lane name in Terraform", file: "deployer/variables.tf",
			old: `l != "_cancel"`, new: `l != "_stop"`, says: `variable "lanes"`},
		{name: "job stream grant in Terraform", file: "ci-caller/main.tf",
			old: "${var.prefix}job-*", new: "${var.prefix}jobs-*", says: `module ci-caller grants "${var.prefix}jobs-*"`},
		{name: "job stream prefix in Go", spec: func(s *spec) {
			s.patterns["stream-"] = s.patterns[topology.StreamQueuePrefix]
			delete(s.patterns, topology.StreamQueuePrefix)
		}, says: `grants "${var.prefix}job-*": no queue name`},
		{name: "a queue Go does not have", file: "deployer/main.tf",
			old: "# --- Logs, leases, cluster", new: "resource \"aws_sqs_queue\" \"extra\" {\n  name = \"${var.prefix}extra\"\n}\n\n# --- Logs, leases, cluster",
			says: `"${var.prefix}extra"`},
		{name: "a value the check cannot read", file: "deployer/main.tf",
			old: "maxReceiveCount     = 5", new: "maxReceiveCount     = var.request_receives", says: "cannot evaluate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			modules := readModules(t)
			s := goSpec()
			if tt.spec != nil {
				tt.spec(&s)
			} else {
				mod, file, _ := strings.Cut(tt.file, "/")
				src := modules[mod][file]
				if strings.Count(src, tt.old) < 1 {
					t.Fatalf("%s no longer holds %q: update this case", tt.file, tt.old)
				}
				modules[mod][file] = strings.Replace(src, tt.old, tt.new, 1)
			}
			err := check(modules, s)
			t.Logf("reported:\n%v", err)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("check: %v\nwant an error saying %q", err, tt.says)
			}
		})
	}
}

// readModules reads the .tf files of both modules: module → file → text.
func readModules(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for name, dir := range map[string]string{"deployer": deployerModule, "ci-caller": callerModule} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no .tf files in %s (%v)", dir, err)
		}
		out[name] = map[string]string{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[name][filepath.Base(p)] = string(b)
		}
	}
	return out
}

const (
	prefix  = "${var.prefix}"
	eachKey = "${each.key}"
)

// check reports every way the modules differ from s.
func check(modules map[string]map[string]string, s spec) error {
	var errs []error
	mod := map[string]*module{}
	for name, files := range modules {
		m, err := parseModule(files)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		mod[name] = m
	}
	d := mod["deployer"]

	// The queues, by name.
	queues := map[string]block{} // by evaluated name
	for _, r := range d.blocks("resource", "aws_sqs_queue") {
		name, err := d.str(r.attr("name"))
		if err != nil {
			errs = append(errs, fmt.Errorf("aws_sqs_queue.%s name: %w", r.labels[1], err))
			continue
		}
		base, ok := strings.CutPrefix(name, prefix)
		if _, want := s.queues[base]; !ok || !want {
			errs = append(errs, fmt.Errorf("aws_sqs_queue.%s is named %q: no queue of internal/topology is", r.labels[1], name))
			continue
		}
		if other, dup := queues[base]; dup {
			errs = append(errs, fmt.Errorf("aws_sqs_queue.%s and aws_sqs_queue.%s are both named %q", other.labels[1], r.labels[1], name))
		}
		queues[base] = r
	}
	for _, base := range slices.Sorted(maps.Keys(s.queues)) {
		r, ok := queues[base]
		if !ok {
			errs = append(errs, fmt.Errorf("no aws_sqs_queue named %q", prefix+base))
			continue
		}
		errs = append(errs, d.checkQueue(r, base, s.queues[base])...)
	}

	// The cancel lane's queue is among the lanes', and no configuration
	// may name a lane so.
	lanes, ok := queues[topology.LaneQueue(eachKey)]
	if ok && !d.mentions(lanes.attr("for_each"), s.cancelLane) {
		errs = append(errs, fmt.Errorf("the lanes' queues (for_each = %s) leave out the cancel lane %q", lanes.attr("for_each"), s.cancelLane))
	}
	if v := d.blocks("variable", "lanes"); len(v) != 1 || !strings.Contains(v[0].body, strconv.Quote(s.cancelLane)) {
		errs = append(errs, fmt.Errorf(`variable "lanes" does not refuse the cancel lane %q as a lane name`, s.cancelLane))
	}

	// What IAM grants by pattern.
	granted := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(mod)) {
		for _, p := range mod[name].patterns() {
			if _, ok := s.patterns[p]; !ok {
				errs = append(errs, fmt.Errorf("module %s grants %q: no queue name of internal/topology starts so", name, prefix+p+"*"))
			}
			granted[p] = append(granted[p], name)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(s.patterns)) {
		for _, name := range s.patterns[p] {
			if !slices.Contains(granted[p], name) {
				errs = append(errs, fmt.Errorf("module %s grants nothing on %q", name, prefix+p+"*"))
			}
		}
	}
	return errors.Join(errs...)
}

// checkQueue compares one aws_sqs_queue with the configuration Go
// creates it with; what the module leaves out is SQS's default, as it is
// the queue port's.
func (m *module) checkQueue(r block, base string, want queue.Config) []error {
	var errs []error
	name := "aws_sqs_queue." + r.labels[1]
	seconds := func(attr string, def time.Duration) (time.Duration, bool) {
		expr := r.attr(attr)
		if expr == "" {
			return def, true
		}
		n, err := m.num(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", name, attr, err))
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	// The request queue's visibility timeout is the Lambda event source
	// mapping's business (six times the gatekeeper's timeout, as AWS
	// advises); in Go the gatekeeper receives with its own.
	if base != topology.RequestQueue {
		if got, ok := seconds("visibility_timeout_seconds", queue.DefaultVisible); ok && got != or(want.VisibilityTimeout, queue.DefaultVisible) {
			errs = append(errs, fmt.Errorf("%s: visibility timeout %s, want %s", name, got, or(want.VisibilityTimeout, queue.DefaultVisible)))
		}
	}
	if got, ok := seconds("message_retention_seconds", queue.DefaultRetention); ok && got != or(want.Retention, queue.DefaultRetention) {
		errs = append(errs, fmt.Errorf("%s: retention %s, want %s", name, got, or(want.Retention, queue.DefaultRetention)))
	}

	target, limit := m.redrive(r)
	switch {
	case want.DeadLetter == nil && (target != "" || limit != ""):
		errs = append(errs, fmt.Errorf("%s has a redrive policy; Go creates it without", name))
	case want.DeadLetter == nil:
	case target == "" || limit == "":
		errs = append(errs, fmt.Errorf("%s has no redrive policy (deadLetterTargetArn = aws_sqs_queue.X.arn, maxReceiveCount = N); want one to %q after %d receives",
			name, prefix+want.DeadLetter.Queue, want.DeadLetter.MaxReceiveCount))
	default:
		if dlq := m.blocks("resource", "aws_sqs_queue", target); len(dlq) != 1 {
			errs = append(errs, fmt.Errorf("%s redrives to aws_sqs_queue.%s, which is not there", name, target))
		} else if got, err := m.str(dlq[0].attr("name")); err != nil {
			errs = append(errs, fmt.Errorf("aws_sqs_queue.%s name: %w", target, err))
		} else if got != prefix+want.DeadLetter.Queue {
			errs = append(errs, fmt.Errorf("%s redrives to %q, want %q", name, got, prefix+want.DeadLetter.Queue))
		}
		if n, err := m.num(limit); err != nil {
			errs = append(errs, fmt.Errorf("%s maxReceiveCount: %w", name, err))
		} else if n != want.DeadLetter.MaxReceiveCount {
			errs = append(errs, fmt.Errorf("%s: maxReceiveCount %d, want %d", name, n, want.DeadLetter.MaxReceiveCount))
		}
	}
	return errs
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// The little of HCL the check needs: top-level blocks, their attributes
// as text, and the evaluation of string templates and products of
// numbers, variables' defaults and locals. Whatever else a value is, the
// check says it cannot evaluate it rather than pass.

// module is a module's top-level blocks, comments removed.
type module struct {
	all    []block
	text   string            // every file, comments removed
	locals map[string]string // name → expression
}

// block is a top-level block: resource "aws_sqs_queue" "requests" { body }.
type block struct {
	kind   string
	labels []string
	body   string
}

var attrLine = regexp.MustCompile(`(?m)^[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*?)[ \t]*$`)

// attr is the expression of the block's attribute key (at any depth: the
// blocks this reads have each key once), or "" when it has none.
func (b block) attr(key string) string {
	for _, m := range attrLine.FindAllStringSubmatch(b.body, -1) {
		if m[1] == key {
			return m[2]
		}
	}
	return ""
}

func parseModule(files map[string]string) (*module, error) {
	m := &module{locals: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		text, class := stripComments(files[name])
		bs, err := topBlocks(text, class)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.all = append(m.all, bs...)
		m.text += text + "\n"
	}
	for _, b := range m.blocks("locals") {
		for _, a := range attrLine.FindAllStringSubmatch(b.body, -1) {
			m.locals[a[1]] = a[2]
		}
	}
	return m, nil
}

// blocks returns the blocks of this kind whose labels start with labels.
func (m *module) blocks(kind string, labels ...string) []block {
	var out []block
	for _, b := range m.all {
		if b.kind == kind && len(b.labels) >= len(labels) && slices.Equal(b.labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

var (
	localRef   = regexp.MustCompile(`^local\.([A-Za-z0-9_]+)$`)
	varRef     = regexp.MustCompile(`^var\.([A-Za-z0-9_]+)$`)
	localInStr = regexp.MustCompile(`\$\{local\.([A-Za-z0-9_]+)\}`)
	localAny   = regexp.MustCompile(`local\.[A-Za-z0-9_]+`)
	arnOf      = regexp.MustCompile(`^aws_sqs_queue\.([A-Za-z0-9_]+)\.arn$`)
	pattern    = regexp.MustCompile(`\$\{var\.prefix\}([A-Za-z0-9_-]*)\*`)
)

// str evaluates a string: a template ("${var.prefix}requests", with
// ${local.x} replaced by its value, other interpolations kept as they are)
// or a local holding one.
func (m *module) str(expr string) (string, error) {
	if l := localRef.FindStringSubmatch(expr); l != nil {
		if v, ok := m.locals[l[1]]; ok {
			return m.str(v)
		}
	}
	s, err := strconv.Unquote(expr)
	if err != nil || !strings.HasPrefix(expr, `"`) {
		return "", fmt.Errorf("cannot evaluate %q: want a string", expr)
	}
	var errs []error
	s = localInStr.ReplaceAllStringFunc(s, func(ref string) string {
		v, err := m.str("local." + localInStr.FindStringSubmatch(ref)[1])
		errs = append(errs, err)
		return v
	})
	return s, errors.Join(errs...)
}

// num evaluates a whole number: a literal, a variable's default, a local,
// or a product of them.
func (m *module) num(expr string) (int, error) {
	product := 1
	for _, f := range strings.Split(expr, "*") {
		f = strings.TrimSpace(f)
		var n int
		var err error
		switch l, v := localRef.FindStringSubmatch(f), varRef.FindStringSubmatch(f); {
		case l != nil && m.locals[l[1]] != "":
			n, err = m.num(m.locals[l[1]])
		case v != nil && len(m.blocks("variable", v[1])) == 1 && m.blocks("variable", v[1])[0].attr("default") != "":
			n, err = m.num(m.blocks("variable", v[1])[0].attr("default"))
		default:
			n, err = strconv.Atoi(f)
		}
		if err != nil {
			return 0, fmt.Errorf("cannot evaluate %q: want whole numbers, variables with defaults and locals multiplied", expr)
		}
		product *= n
	}
	return product, nil
}

// redrive returns the label of the queue r redrives to and the
// expression of its maxReceiveCount, "" when it has no redrive_policy.
func (m *module) redrive(r block) (target, limit string) {
	if r.attr("redrive_policy") == "" {
		return "", ""
	}
	if a := arnOf.FindStringSubmatch(r.attr("deadLetterTargetArn")); a != nil {
		target = a[1]
	}
	return target, r.attr("maxReceiveCount")
}

// mentions reports whether expr names value: as a literal or a local
// holding it.
func (m *module) mentions(expr, value string) bool {
	if strings.Contains(expr, strconv.Quote(value)) {
		return true
	}
	for _, ref := range localAny.FindAllString(expr, -1) {
		if v, err := m.str(ref); err == nil && v == value {
			return true
		}
	}
	return false
}

// patterns returns what every "${var.prefix}<p>*" pattern of the module
// puts before the "*".
func (m *module) patterns() []string {
	var out []string
	for _, p := range pattern.FindAllStringSubmatch(m.text, -1) {
		if !slices.Contains(out, p[1]) {
			out = append(out, p[1])
		}
	}
	return out
}

// Byte classes of stripComments.
const (
	code    = 'c' // outside any string
	literal = 's' // inside a string, its interpolations included
)

// stripComments blanks the comments of src (# and // to the end of the
// line, /* */), keeping lines where they are, and classes each byte of
// what is left as code or string.
func stripComments(src string) (string, []byte) {
	out, class := []byte(src), make([]byte, len(src))
	// Each frame is a string or an interpolation in one; depth counts an
	// interpolation's own braces.
	type frame struct {
		str   bool
		depth int
	}
	stack := []frame{{}}
	for i := 0; i < len(src); i++ {
		top := &stack[len(stack)-1]
		c, next := src[i], byte(0)
		if i+1 < len(src) {
			next = src[i+1]
		}
		if len(stack) > 1 {
			class[i] = literal
		} else {
			class[i] = code
		}
		switch {
		case top.str && c == '\\':
			i++
			if i < len(src) {
				class[i] = literal
			}
		case top.str && c == '"':
			stack = stack[:len(stack)-1]
		case top.str && (c == '$' || c == '%') && next == '{':
			i++
			class[i] = literal
			stack = append(stack, frame{})
		case top.str:
		case c == '"':
			class[i] = literal
			stack = append(stack, frame{str: true})
		case c == '#' || c == '/' && next == '/':
			for ; i < len(src) && src[i] != '\n'; i++ {
				out[i], class[i] = ' ', code
			}
			i--
		case c == '/' && next == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				end = len(src) - i - 4
			}
			for j := i; j < i+end+4; j++ {
				if out[j] != '\n' {
					out[j] = ' '
				}
				class[j] = code
			}
			i += end + 3
		case c == '{':
			top.depth++
		case c == '}' && len(stack) > 1 && top.depth == 0:
			stack = stack[:len(stack)-1] // the end of an interpolation
		case c == '}':
			top.depth--
		}
	}
	return string(out), class
}

var (
	header = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)((?:\s+"[^"]*")*)\s*$`)
	label  = regexp.MustCompile(`"[^"]*"`)
)

// topBlocks splits the module's text into its top-level blocks.
func topBlocks(text string, class []byte) ([]block, error) {
	var out []block
	depth, start, open := 0, 0, 0
	for i := 0; i < len(text); i++ {
		if class[i] != code {
			continue
		}
		switch text[i] {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced } at byte %d", i)
			}
			if depth > 0 {
				continue
			}
			h := header.FindStringSubmatch(strings.TrimSpace(text[start:open]))
			if h == nil {
				return nil, fmt.Errorf("cannot read the block header %q", strings.TrimSpace(text[start:open]))
			}
			b := block{kind: h[1], body: text[open+1 : i]}
			for _, l := range label.FindAllString(h[2], -1) {
				b.labels = append(b.labels, strings.Trim(l, `"`))
			}
			out = append(out, b)
			start = i + 1
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced {")
	}
	return out, nil
}
