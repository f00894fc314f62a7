package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/cli/doctor"
)

// TestEveryExitCodeIsDocumented: every exit code a command ends with
// (factory.Exit(...), &factory.ExitError{Code: ...}, a producer.Exit*
// constant) is in the table of docs/exit-codes.md, and every producer.Exit*
// code is in the README's, so that the tables cannot drift from the code.
func TestEveryExitCodeIsDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	consts := map[string]int{}
	src, err := os.ReadFile(filepath.Join(root, "producer", "exit.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*(Exit\w+)\s*=\s*(\d+)`).FindAllStringSubmatch(string(src), -1) {
		consts[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(consts) < 9 {
		t.Fatalf("found %d Exit* constants in producer/exit.go: %v", len(consts), consts)
	}
	docs := documented(t, filepath.Join(root, "docs", "exit-codes.md"))
	readme := documented(t, filepath.Join(root, "README.md"))
	for name, code := range consts {
		if !docs[code] || !readme[code] {
			t.Errorf("producer.%s (%d) is not in docs/exit-codes.md and the README's table", name, code)
		}
	}

	// Every cause of "deployer doctor", its code and its name.
	table, err := os.ReadFile(filepath.Join(root, "docs", "exit-codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range doctor.Causes {
		row := regexp.MustCompile(`(?m)^\|\s*` + strconv.Itoa(c.Code) + `\s*\|.*` + "`" + c.Name + "`")
		if !docs[c.Code] || !row.Match(table) {
			t.Errorf("doctor cause %s (%d) is not in docs/exit-codes.md's row of %d", c.Name, c.Code, c.Code)
		}
	}

	use := regexp.MustCompile(`factory\.Exit\(([\w.]+)\)|ExitError\{Code:\s*([\w.]+)`)
	err = filepath.WalkDir(filepath.Join(root, "internal", "cli"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path) //nolint:gosec // our own sources
		if err != nil {
			return err
		}
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			arg := m[1] + m[2]
			code, err := strconv.Atoi(arg)
			if err != nil {
				c, ok := consts[strings.TrimPrefix(arg, "producer.")]
				if !ok {
					continue // a task's own code, computed
				}
				code = c
			}
			if !docs[code] {
				t.Errorf("%s: exit code %s (%d) is not in docs/exit-codes.md", path, arg, code)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// documented returns the codes in the first column of the markdown
// tables of path.
func documented(t *testing.T, path string) map[int]bool {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // our own docs
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\|\s*(\d+)\s*\|`).FindAllStringSubmatch(string(b), -1) {
		c, _ := strconv.Atoi(m[1])
		out[c] = true
	}
	return out
}
