package cli

import (
	"errors"
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/deployerhq/deployer/"

// belowTheClient are the packages under package client: the ports and
// their adapters, the backends that assemble them, and the dead-letter
// engine. Commands reach a backend through package client, so that the
// product proves the client every Go program uses.
var belowTheClient = []string{
	"internal/queue", "internal/journal", "internal/stream", "internal/lane",
	"internal/runner", "internal/tasklog",
	"internal/backend", "internal/embedded", "internal/awsbackend",
	"internal/replay", "internal/sqlitedb",
}

// mayReachBelow lists, per package of internal/cli, what it imports from
// belowTheClient, and why it may.
var mayReachBelow = map[string]struct {
	imports []string
	why     string
}{
	"internal/cli/factory": {
		[]string{"internal/backend", "internal/embedded", "internal/sqlitedb"},
		"it assembles: it opens the client for the commands, and the backend itself for the commands that serve it (up) or look beneath it (doctor)",
	},
	"internal/cli/awscli": {
		[]string{"internal/awsbackend", "internal/backend", "internal/queue"},
		"it is the factory's aws backend: it opens the AWS adapters for the factory, doctor and rollback, in the binaries that link the AWS SDK",
	},
	"internal/cli/up": {
		[]string{"internal/backend", "internal/embedded", "internal/lane", "internal/queue"},
		"it is the server: it runs the gatekeeper, a worker and the logshipper on the backend's ports, answering what clients ask, and reads those ports for its metrics",
	},
	"internal/cli/detached": {
		[]string{"internal/embedded"},
		`it starts that server ("deployer up") detached, with the server's idle default`,
	},
	"internal/cli/supervise": {
		[]string{"internal/runner/local"},
		"it is the local runner's own process: the task supervisor the runner re-executes the binary as, and the task entrypoint",
	},
	"internal/cli/doctor": {
		[]string{"internal/backend", "internal/embedded", "internal/queue"},
		"it probes the deployment beneath any client: whether each queue exists, what IAM lets the caller do, which server serves it",
	},
}

// TestCommandsReachTheBackendThroughTheClient fails when a package of
// internal/cli, or the dashboard (internal/ui), imports a port, an adapter, a backend or the dead-letter
// engine directly instead of using package client, unless
// mayReachBelow says why it may; and when an entry of mayReachBelow is
// no longer needed.
func TestCommandsReachTheBackendThroughTheClient(t *testing.T) {
	below := func(imp string) bool {
		rel, ok := strings.CutPrefix(imp, module)
		if !ok {
			return false
		}
		return slices.ContainsFunc(belowTheClient, func(p string) bool { return rel == p || strings.HasPrefix(rel, p+"/") })
	}
	seen := map[string][]string{}
	walk := func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			var none *build.NoGoError
			if errors.As(err, &none) {
				return nil
			}
			return err
		}
		name := filepath.ToSlash(filepath.Join("internal/cli", path))
		for _, imp := range pkg.Imports { // not the tests': they may set things up below
			if below(imp) {
				seen[name] = append(seen[name], strings.TrimPrefix(imp, module))
			}
		}
		return nil
	}
	// The commands, and the dashboard some of them serve.
	for _, root := range []string{".", "../ui"} {
		if err := filepath.WalkDir(root, walk); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) == 0 {
		t.Fatal("found no package importing anything below the client: is the walk looking at internal/cli?")
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		allowed := mayReachBelow[name].imports
		for _, imp := range seen[name] {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s: a command reaches the backend through package client (github.com/deployerhq/deployer/client); "+
					"add the client method it needs, or, if the package is not a client of the backend, say why in mayReachBelow", name, imp)
			}
		}
	}
	for name, a := range mayReachBelow {
		for _, imp := range a.imports {
			if !slices.Contains(seen[name], imp) {
				t.Errorf("mayReachBelow lets %s import %s, which it no longer does: remove the entry", name, imp)
			}
		}
	}
}
