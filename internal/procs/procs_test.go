package procs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/deployerhq/deployer/internal/procs"
)

// TestOne: one P, unless the environment sets GOMAXPROCS.
func TestOne(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, c := range []struct {
		env  string
		want int
	}{
		{env: "", want: 1},
		{env: "3", want: 3},
	} {
		runtime.GOMAXPROCS(3)
		t.Setenv("GOMAXPROCS", c.env)
		procs.One()
		if got := runtime.GOMAXPROCS(0); got != c.want {
			t.Errorf("GOMAXPROCS=%q in the environment: %d Ps, want %d", c.env, got, c.want)
		}
	}
}

// TestSupervisorRunsOnOne: deployer-supervisor, a process per task,
// calls One in main. (deployer's commands do in cli.MainAs.)
func TestSupervisorRunsOnOne(t *testing.T) {
	path := filepath.Join("..", "..", "cmd", "deployer-supervisor", "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "main" {
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				found = found || isCallOf(n, "procs", "One")
				return !found
			})
		}
	}
	if !found {
		t.Errorf("%s: main does not call procs.One()", path)
	}
}

// isCallOf reports whether n is a call of pkg.fn().
func isCallOf(n ast.Node, pkg, fn string) bool {
	call, ok := n.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg && sel.Sel.Name == fn
}
