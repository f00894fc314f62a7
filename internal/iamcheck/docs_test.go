package iamcheck

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/aws.md's rights table from the rights list")

const (
	docsFile   = "../../docs/aws.md"
	tableBegin = "<!-- BEGIN rights table: generated from internal/iamcheck's rights (go test ./internal/iamcheck -run TestDocsRightsTable -update) -->\n"
	tableEnd   = "<!-- END rights table -->\n"
)

// rightsTable renders the rights list as docs/aws.md shows it: one row per
// grant, for the default prefix, resources without their
// "arn:aws:SERVICE:REGION:ACCOUNT:" start.
func rightsTable() string {
	n := namesOf(Deployment{Region: "REGION", Account: "ACCOUNT"})
	short := func(arn string) string {
		if a, ok := parseARN(arn); ok {
			return a.resource
		}
		return arn
	}
	code := func(items []string) string {
		out := make([]string, len(items))
		for i, s := range items {
			out[i] = "`" + s + "`"
		}
		return strings.Join(out, ", ")
	}
	var b strings.Builder
	b.WriteString("| who | calls | on | why |\n|---|---|---|---|\n")
	for _, p := range Principals() {
		for _, operator := range []bool{false, true} {
			for _, g := range grants {
				if g.who != p || g.operator != operator {
					continue
				}
				who := string(g.who)
				switch {
				case g.operator:
					who += " (operators)"
				case g.optional:
					who += " (optional)"
				}
				var on []string
				for _, r := range g.on(n) {
					on = append(on, short(r))
				}
				where := ""
				if g.context != nil {
					ctx := g.context(n)
					var conds []string
					for _, k := range slices.Sorted(maps.Keys(ctx)) {
						conds = append(conds, fmt.Sprintf("`%s` = `%s`", k, short(ctx[k])))
					}
					where = " where " + strings.Join(conds, ", ")
				}
				fmt.Fprintf(&b, "| %s | %s | %s%s | %s |\n", who, code(g.actions), code(on), where, g.why)
			}
		}
	}
	return b.String()
}

// TestDocsRightsTable fails when docs/aws.md's table of rights is not
// the one the rights list makes: the docs say what Required checks.
func TestDocsRightsTable(t *testing.T) {
	doc, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := bytes.Index(doc, []byte(tableBegin)), bytes.Index(doc, []byte(tableEnd))
	if begin < 0 || end < begin {
		t.Fatalf("%s has no %q … %q block", docsFile, tableBegin, tableEnd)
	}
	want := rightsTable()
	got := string(doc[begin+len(tableBegin) : end])
	if got == want {
		return
	}
	if *update {
		out := slices.Concat(doc[:begin+len(tableBegin)], []byte(want), doc[end:])
		if err := os.WriteFile(docsFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s's rights table is stale; run: go test ./internal/iamcheck -run TestDocsRightsTable -update\nwant:\n%s", docsFile, want)
}
