package schemas_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

// nameForm is a hand-written check and the expression it stands for.
type nameForm struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool
}

// nameForms takes the name and option expressions from config.schema.json
// itself, so the checks cannot drift from what a configuration admits.
func nameForms(tb testing.TB) []nameForm {
	tb.Helper()
	var doc struct {
		Defs map[string]struct {
			Pattern string `json:"pattern"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schemas.ConfigSchema, &doc); err != nil {
		tb.Fatal(err)
	}
	def := func(name string) *regexp.Regexp {
		p := doc.Defs[name].Pattern
		if p == "" {
			tb.Fatalf("config.schema.json has no #/$defs/%s pattern", name)
		}
		return regexp.MustCompile(p)
	}
	return []nameForm{
		{"ValidName", def("name"), schemas.ValidName},
		{"ValidOptionName", def("optionName"), schemas.ValidOptionName},
		{"ValidJobID", regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}(-[a-z0-9]{1,16})?$`), schemas.ValidJobID},
		{"ValidBatchID", regexp.MustCompile(`^batch-[0-9A-HJKMNP-TV-Z]{26}$`), schemas.ValidBatchID},
		{"ValidEnvName", regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`), schemas.ValidEnvName},
	}
}

const ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

// nameSeeds are near misses of every form: too short, too long, a byte
// out of its class at the start, the middle and the end.
var nameSeeds = []string{
	"", "a", "A", "0", ".", "_", "-", "a.b_c-d", ".a", "a.", "é", "a\xff", "a b", "a\n",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
	"-a", "--a", "---a", "-", "--", "-.", "--_a", "--a.b", "-" + strings.Repeat("a", 128), "--" + strings.Repeat("a", 128), "--" + strings.Repeat("a", 129),
	ulid, ulid[:25], ulid + "0", ulid + "-", ulid + "-r2", ulid + "-R2", ulid + "-r_2", ulid + "-" + strings.Repeat("z", 16), ulid + "-" + strings.Repeat("z", 17), ulid + "--r",
	"01ARZ3NDEKTSV4RRFFQ69G5FAI", "01ARZ3NDEKTSV4RRFFQ69G5FAL", "01ARZ3NDEKTSV4RRFFQ69G5FAO", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "01arz3ndektsv4rrffq69g5fav",
	"batch-" + ulid, "batch-" + ulid + "-r2", "batch-" + ulid[:25], "Batch-" + ulid, "batch" + ulid,
	"A1_", "_1", "1A", "A-B", "a_b.c", "PATH", "_", "9", "Z" + strings.Repeat("_", 300),
}

func TestNameFormsMatchTheirExpressions(t *testing.T) {
	forms := nameForms(t)
	for _, s := range nameSeeds {
		for _, f := range forms {
			if got, want := f.check(s), f.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, %s says %v", f.name, s, got, f.re, want)
			}
		}
	}
}

// FuzzNameForms: each hand-written check agrees with its expression.
func FuzzNameForms(f *testing.F) {
	forms := nameForms(f)
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, f := range forms {
			if got, want := f.check(s), f.re.MatchString(s); got != want {
				t.Fatalf("%s(%q) = %v, %s says %v", f.name, s, got, f.re, want)
			}
		}
	})
}
