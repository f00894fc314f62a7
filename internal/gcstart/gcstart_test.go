package gcstart_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/gcstart"
)

// childEnv, set, has the test binary report its GOGC as a main would see
// it, instead of running the tests: during init, right after Release, and
// once the first collection has run. With setEnv also set, the program
// sets that GOGC itself after Release, before the first collection.
const (
	childEnv = "GCSTART_TEST_CHILD"
	setEnv   = "GCSTART_TEST_SET"
)

func TestMain(m *testing.M) {
	held := percent()
	gcstart.Release()
	if os.Getenv(childEnv) != "" {
		released := percent()
		if p, err := strconv.Atoi(os.Getenv(setEnv)); err == nil {
			debug.SetGCPercent(p)
		}
		runtime.GC()
		<-gcstart.Restored()
		fmt.Printf("held=%d released=%d collected=%d\n", held, released, percent())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// percent reads the collector's GOGC.
func percent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestChild starts the test binary with each GOGC: init holds Go's
// default at Held, and Release puts it back at the first collection, not
// before; a GOGC of the user's is kept throughout, and so is one the
// program sets after Release.
func TestChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{childEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") {
			base = append(base, kv)
		}
	}
	for _, c := range []struct {
		gogc string // "" for none
		set  string // what the program sets after Release; "" for nothing
		want string
	}{
		{"", "", fmt.Sprintf("held=%d released=%[1]d collected=100", gcstart.Held)},
		{"", "50", fmt.Sprintf("held=%d released=%[1]d collected=50", gcstart.Held)},
		{"50", "", "held=50 released=50 collected=50"},
		{"off", "", "held=-1 released=-1 collected=-1"},
		{"800", "", "held=800 released=800 collected=800"},
	} {
		name := "GOGC=" + c.gogc
		if c.set != "" {
			name += ",set=" + c.set
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), exe)
			cmd.Env = base
			if c.gogc != "" {
				cmd.Env = append(cmd.Env, "GOGC="+c.gogc)
			}
			if c.set != "" {
				cmd.Env = append(cmd.Env, setEnv+"="+c.set)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != c.want {
				t.Errorf("child reports %q, want %q", got, c.want)
			}
		})
	}
}

const importPath = "github.com/deployerhq/deployer/internal/gcstart"

// TestOnlyMainsImportIt: a package that is not a main would hold the
// collector of every program linking it, tests included, until their
// main released it, which theirs does not.
func TestOnlyMainsImportIt(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if imports(f) && f.Name.Name != "main" {
			t.Errorf("%s (package %s) imports gcstart; only main packages may", path, f.Name.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryMainReleases: every binary of cmd/ imports gcstart, so that
// its package init does not collect, and releases it first thing in
// main.
func TestEveryMainReleases(t *testing.T) {
	mains, err := filepath.Glob(filepath.Join("..", "..", "cmd", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no cmd/*/main.go (%v)", err)
	}
	for _, path := range mains {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !imports(f) {
			t.Errorf("%s does not import gcstart", path)
			continue
		}
		main, ok := f.Scope.Lookup("main").Decl.(*ast.FuncDecl) //nolint:staticcheck // a file's own scope is all this needs
		if !ok || len(main.Body.List) == 0 || !isRelease(main.Body.List[0]) {
			t.Errorf("%s: main does not begin with gcstart.Release()", path)
		}
	}
}

func imports(f *ast.File) bool {
	for _, im := range f.Imports {
		if p, err := strconv.Unquote(im.Path.Value); err == nil && p == importPath {
			return true
		}
	}
	return false
}

func isRelease(s ast.Stmt) bool {
	e, ok := s.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := e.X.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "gcstart" && sel.Sel.Name == "Release"
}
