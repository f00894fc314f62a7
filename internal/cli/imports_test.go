package cli

import (
	"errors"
	"go/build"
	"io/fs"
	"os/exec"
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
		[]string{"internal/backend", "internal/embedded", "internal/queue"},
		"it is the server: it runs the gatekeeper, a worker and the logshipper on the backend's ports, answering what clients ask",
	},
	"internal/cli/extras": {
		[]string{"internal/backend", "internal/lane", "internal/queue"},
		"it serves up's metrics, which read the served backend's queues and lanes",
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

// leftOut are what deployer leaves out to start faster, and hands the
// command lines that need them to deployer-aws for: the AWS SDK's
// clients (package awscli), Prometheus, the OTLP span exporter and the
// web dashboard (package extras), their package init costing every
// "deployer run" ~0.5–3 ms each (docs/performance.md).
var leftOut = []string{
	"github.com/aws/aws-sdk-go-v2/service/",
	"github.com/aws/aws-sdk-go-v2/config",
	"github.com/prometheus/",
	"go.opentelemetry.io/otel/exporters/",
	"google.golang.org/grpc",
	module + "internal/cli/awscli",
	module + "internal/cli/extras",
	module + "internal/metrics",
	module + "internal/ui",
	"html/template",
	module + "internal/tracing/otlp",
}

// TestDeployerLeavesOutWhatDeployerAWSLinks fails when cmd/deployer links
// a package of leftOut, and when cmd/deployer-aws, which deployer hands
// such command lines to, does not link package extras and awscli.
func TestDeployerLeavesOutWhatDeployerAWSLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-tags", "grpcnotrace", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, dep := range deps("cmd/deployer") {
		for _, out := range leftOut {
			if strings.HasPrefix(dep, out) {
				t.Errorf("cmd/deployer links %s, which it leaves to deployer-aws (%s)", dep, out)
			}
		}
	}
	aws := deps("cmd/deployer-aws")
	for _, want := range []string{module + "internal/cli/awscli", module + "internal/cli/extras"} {
		if !slices.Contains(aws, want) {
			t.Errorf("cmd/deployer-aws does not link %s", want)
		}
	}
}
