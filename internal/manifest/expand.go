package manifest

import (
	"fmt"
	"strings"

	"github.com/deployerhq/deployer/schemas"
)

// template is an argument or job name split into literal text and
// ${{ matrix.KEY }} references.
type template []segment

// segment is literal text, or a reference to a matrix key when key is set.
type segment struct {
	text, key string
}

// compile splits s into a template. keys are the job's matrix keys
// (include's among them); hasMatrix tells a job without a matrix apart. It
// returns what is wrong, or "".
func compile(s string, keys map[string]bool, hasMatrix bool) (template, string) {
	var t template
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			if s != "" {
				t = append(t, segment{text: s})
			}
			return t, ""
		}
		if i > 0 {
			t = append(t, segment{text: s[:i]})
		}
		rest := s[i+3:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return nil, fmt.Sprintf("has ${{ without a closing }} in %s", show(s[i:]))
		}
		expr := s[i : i+3+j+2]
		m := refPattern().FindStringSubmatch(strings.Trim(rest[:j], " \t"))
		switch {
		case m == nil:
			return nil, fmt.Sprintf("uses the expression %s: only ${{ matrix.KEY }} is substituted", show(expr))
		case !hasMatrix:
			return nil, fmt.Sprintf("uses the expression %s, but the job has no matrix", show(expr))
		case !keys[m[1]]:
			return nil, fmt.Sprintf("uses the expression %s, but %s is not a key of the job's matrix", show(expr), show(m[1]))
		}
		t = append(t, segment{key: m[1]})
		s = rest[j+2:]
	}
}

// expand substitutes t's references with c's values; missing names the
// first key c has no value for.
func (t template) expand(c map[string]string) (s, missing string) {
	var b strings.Builder
	for _, seg := range t {
		if seg.key == "" {
			b.WriteString(seg.text)
			continue
		}
		v, ok := c[seg.key]
		if !ok {
			return "", seg.key
		}
		b.WriteString(v)
	}
	return b.String(), ""
}

// origin says where an expanded job came from, for messages.
type origin struct {
	index int // 1-based position in the batch
	where string
}

// expand turns the checked spec into the manifest's jobs, checking the
// limits of the batch as it goes so that it never holds more than
// schemas.MaxBatchJobs jobs.
func (p *parser) expand(s *spec) *Manifest {
	m := &Manifest{Name: s.name, MaxInFlight: s.maxInFlight, FailFast: s.failFast}
	seen := make(map[string]origin)
	size := 0
	for _, j := range s.jobs {
		combos := []map[string]string{nil}
		if j.matrix != nil {
			combos = j.matrix.combinations()
			if len(combos) == 0 {
				p.add(j.matrix.node, "%s: matrix: exclude removes every combination, so the job would not run", j.where)
				continue
			}
		}
		for _, c := range combos {
			if len(m.Jobs) == schemas.MaxBatchJobs {
				p.add(nil, "the manifest expands to more than %d jobs, the most a batch may have", schemas.MaxBatchJobs)
				return nil
			}
			job, ok := p.instance(j, c)
			if !ok {
				continue
			}
			index := len(m.Jobs) + 1
			if prev, dup := seen[job.Key]; dup && job.Key != "" {
				p.add(j.node, "%s: batch job %d has the key %q, the same as batch job %d from %s; give the jobs distinct names",
					j.where, index, job.Key, prev.index, prev.where)
				continue
			}
			seen[job.Key] = origin{index: index, where: j.where}
			size += len(job.Key)
			for _, a := range job.Args {
				size += len(a)
			}
			if size > maxExpandedBytes {
				p.add(nil, "the manifest expands to more than %d bytes of arguments", maxExpandedBytes)
				return nil
			}
			m.Jobs = append(m.Jobs, job)
		}
	}
	if !p.failed() && len(m.Jobs) == 0 {
		p.add(nil, "the manifest expands to no jobs")
	}
	return m
}

// instance makes the job of one combination (nil for a job without a
// matrix).
func (p *parser) instance(j *jobSpec, c map[string]string) (Job, bool) {
	job := Job{Container: j.container, Script: j.script, Timeout: j.timeout, TaskCPU: j.cpu, TaskMemory: j.memory}
	var ckey string
	if j.matrix != nil {
		ckey = j.matrix.key(c)
	}
	ok := true
	if j.nameNode != nil {
		name, missing := j.name.expand(c)
		switch {
		case missing != "":
			p.add(j.nameNode, "%s: name uses matrix.%s, but the combination %q has no value for it", j.where, missing, ckey)
			ok = false
		case strings.Contains(name, "${{"):
			p.add(j.nameNode, "%s: name becomes %s for %q, which contains ${{", j.where, show(name), ckey)
			ok = false
		}
		job.Key = name
		if ckey != "" {
			job.Key += " " + ckey
		}
	} else {
		job.Key = ckey
	}
	if msg := checkLabel(job.Key); msg != "" {
		p.add(j.node, "%s: the job's key %s; shorten its name or matrix values", j.where, msg)
		ok = false
	}
	job.Args = make([]string, 0, len(j.args))
	for i, t := range j.args {
		a, missing := t.expand(c)
		switch {
		case missing != "":
			p.add(j.argNodes[i], "%s: args[%d] uses matrix.%s, but the combination %q has no value for it", j.where, i, missing, ckey)
			ok = false
		case len(a) > maxArgBytes:
			p.add(j.argNodes[i], "%s: args[%d] is %d bytes for %q, at most %d", j.where, i, len(a), ckey, maxArgBytes)
			ok = false
		case strings.Contains(a, "${{"):
			p.add(j.argNodes[i], "%s: args[%d] becomes %s for %q, which contains ${{", j.where, i, show(a), ckey)
			ok = false
		}
		job.Args = append(job.Args, a)
	}
	return job, ok
}
