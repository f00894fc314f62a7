package manifest

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/schemas"
)

// matrix is a job's matrix as written.
type matrix struct {
	node   *yaml.Node
	keys   []string   // the matrix's own keys, in the order written
	values [][]string // values[i] lists keys[i]'s values
	// include and exclude are the entries of the lists of those names.
	include, exclude []entry
	// all lists every key a combination may have: keys, then the keys
	// that only include entries add, in the order they first appear. It
	// orders the "key=value" pairs of a job's Key.
	all []string
}

// entry is one include or exclude entry.
type entry struct {
	node *yaml.Node
	vals map[string]string
}

// matrix checks a job's matrix, including its size before expansion.
func (p *parser) matrix(n *yaml.Node, where string) *matrix {
	where += ": matrix"
	if n.Kind != yaml.MappingNode {
		p.add(n, "%s must be a mapping of keys to lists of values, not %s", where, describe(n))
		return nil
	}
	m := &matrix{node: n}
	var hasInclude bool
	p.fields(n, where, func(key string, k, v *yaml.Node) {
		switch key {
		case "include":
			hasInclude = true
			m.include = p.entries(v, where+": include")
			return
		case "exclude":
			m.exclude = p.entries(v, where+": exclude")
			return
		}
		if !keyPattern().MatchString(key) {
			p.add(k, "%s: key %s is not valid: a letter or '_', then letters, digits, '_' or '-'", where, show(key))
			return
		}
		if v.Kind != yaml.SequenceNode {
			p.add(v, "%s: %s must be a list of values, not %s", where, key, describe(v))
			return
		}
		if len(v.Content) == 0 {
			p.add(v, "%s: %s lists no values", where, key)
			return
		}
		vals := make([]string, 0, len(v.Content))
		seen := make(map[string]bool, len(v.Content))
		for i, vn := range v.Content {
			s, ok := p.scalar(vn, fmt.Sprintf("%s: %s[%d]", where, key, i))
			if !ok {
				continue
			}
			if seen[s] {
				p.add(vn, "%s: %s lists %s twice", where, key, show(s))
				continue
			}
			seen[s] = true
			vals = append(vals, s)
		}
		m.keys = append(m.keys, key)
		m.values = append(m.values, vals)
	})
	if len(m.keys) == 0 && !hasInclude {
		p.add(n, "%s has no keys and no include entries", where)
		return nil
	}
	m.all = slices.Clone(m.keys)
	for _, e := range m.include {
		for _, k := range entryKeys(e) {
			if !slices.Contains(m.all, k) {
				m.all = append(m.all, k)
			}
		}
	}
	values := make(map[string][]string, len(m.keys))
	for i, k := range m.keys {
		values[k] = m.values[i]
	}
	for _, e := range m.exclude {
		for _, k := range entryKeys(e) {
			switch vals, ok := values[k]; {
			case !ok:
				p.add(e.node, "%s: exclude: %s is not a key of the matrix (keys: %s)", where, show(k), strings.Join(m.keys, ", "))
			case !slices.Contains(vals, e.vals[k]):
				p.add(e.node, "%s: exclude: %s is not one of the values of %s, so the entry would exclude nothing", where, show(e.vals[k]), k)
			}
		}
	}
	// The size is known before anything is expanded: refuse a matrix
	// that could not fit in a batch even before exclude, so that a
	// hostile manifest cannot make us build a huge product.
	size := 1
	for _, vals := range m.values {
		size *= len(vals)
		if size > schemas.MaxBatchJobs {
			p.add(n, "%s has more than %d combinations (before exclude); a batch has at most %d jobs", where, schemas.MaxBatchJobs, schemas.MaxBatchJobs)
			return nil
		}
	}
	return m
}

// entries checks an include or exclude list.
func (p *parser) entries(n *yaml.Node, where string) []entry {
	if n.Kind != yaml.SequenceNode {
		p.add(n, "%s must be a list of mappings, not %s", where, describe(n))
		return nil
	}
	if len(n.Content) > maxEntries {
		p.add(n, "%s has %d entries, at most %d", where, len(n.Content), maxEntries)
		return nil
	}
	out := make([]entry, 0, len(n.Content))
	for i, en := range n.Content {
		w := fmt.Sprintf("%s[%d]", where, i)
		if en.Kind != yaml.MappingNode {
			p.add(en, "%s must be a mapping of keys to values, not %s", w, describe(en))
			continue
		}
		if len(en.Content) == 0 {
			p.add(en, "%s is empty", w)
			continue
		}
		e := entry{node: en, vals: make(map[string]string, len(en.Content)/2)}
		p.fields(en, w, func(key string, k, v *yaml.Node) {
			if !keyPattern().MatchString(key) || key == "include" || key == "exclude" {
				p.add(k, "%s: key %s is not valid: a letter or '_', then letters, digits, '_' or '-'", w, show(key))
				return
			}
			if s, ok := p.scalar(v, w+": "+key); ok {
				e.vals[key] = s
			}
		})
		out = append(out, e)
	}
	return out
}

// entryKeys returns an entry's keys in the order they were written.
func entryKeys(e entry) []string {
	var out []string
	for i := 0; i+1 < len(e.node.Content); i += 2 {
		if k := e.node.Content[i].Value; k != "" {
			if _, ok := e.vals[k]; ok && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// combinations expands the matrix with GitHub Actions' semantics:
//
//   - The product of the keys' values, first key outermost (the last key
//     varies fastest).
//   - exclude removes every combination that matches all of an entry's
//     pairs (an entry may name only some keys).
//   - Then, in order, each include entry is merged into every remaining
//     combination that it does not contradict on the matrix's own keys
//     (it may add keys, and overwrite keys that earlier include entries
//     added); when it fits none, it becomes a combination of its own,
//     appended after the product. Combinations made that way are never
//     extended by later entries.
//
// A matrix of only include entries therefore makes one combination per
// entry.
func (m *matrix) combinations() []map[string]string {
	var base []map[string]string
	if len(m.keys) > 0 {
		idx := make([]int, len(m.keys))
		for {
			c := make(map[string]string, len(m.all))
			for i, k := range m.keys {
				c[k] = m.values[i][idx[i]]
			}
			if !m.excluded(c) {
				base = append(base, c)
			}
			i := len(idx) - 1
			for ; i >= 0; i-- {
				idx[i]++
				if idx[i] < len(m.values[i]) {
					break
				}
				idx[i] = 0
			}
			if i < 0 {
				break
			}
		}
	}
	var added []map[string]string
	for _, e := range m.include {
		fitted := false
		for _, c := range base {
			if m.fits(c, e) {
				maps.Copy(c, e.vals)
				fitted = true
			}
		}
		if !fitted {
			added = append(added, maps.Clone(e.vals))
		}
	}
	return append(base, added...)
}

func (m *matrix) excluded(c map[string]string) bool {
	for _, e := range m.exclude {
		match := true
		for k, v := range e.vals {
			if c[k] != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// fits reports whether include entry e leaves the matrix's own values of c
// as they are.
func (m *matrix) fits(c map[string]string, e entry) bool {
	for _, k := range m.keys {
		if v, ok := e.vals[k]; ok && c[k] != v {
			return false
		}
	}
	return true
}

// key formats a combination's "key=value" pairs in the matrix's order.
func (m *matrix) key(c map[string]string) string {
	var b strings.Builder
	for _, k := range m.all {
		v, ok := c[k]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}
