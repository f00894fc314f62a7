package secretref_test

import (
	"os/exec"
	"strings"
	"testing"
)

// sdkFree are the packages that check or resolve secret references and
// link no AWS SDK client, whose package init costs every process that
// links it milliseconds (docs/performance.md): the syntax (this
// package), its checkers, the task and the local runner, which take a
// resolver from their caller, and the resolver itself (package secret,
// which reads AWS through a Fetcher: package awssecret's links the SDK).
// The deployer binary's task processes (package client's
// RunTaskProcess, and internal/cli/supervise's hidden commands) resolve
// with it; and the deployer and deployer-supervisor binaries link no SDK
// client at all (deployer hands the aws backend's command lines to
// deployer-aws; both have deployer-aws read a local task's AWS secrets,
// package secretproc).
var sdkFree = []string{
	"github.com/deployerhq/deployer/cmd/deployer",
	"github.com/deployerhq/deployer/cmd/deployer-supervisor",
	"github.com/deployerhq/deployer/internal/task/secret/secretproc",
	"github.com/deployerhq/deployer/internal/task/secretref",
	"github.com/deployerhq/deployer/gatekeeper/policy",
	"github.com/deployerhq/deployer/internal/task",
	"github.com/deployerhq/deployer/internal/runner/local",
	"github.com/deployerhq/deployer/internal/task/secret",
	"github.com/deployerhq/deployer/client",
	"github.com/deployerhq/deployer/internal/cli/supervise",
}

// sdkClient reports whether dep is one of the AWS SDK's service clients
// or its configuration loader.
func sdkClient(dep string) bool {
	const sdk = "github.com/aws/aws-sdk-go-v2/"
	return strings.HasPrefix(dep, sdk+"service/") || dep == sdk+"config" || strings.HasPrefix(dep, sdk+"config/")
}

func TestNoSDKClientLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs go list: %v", err)
	}
	// One line per package: its path, then every package it links.
	args := append([]string{"list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}, sdkFree...)
	out, err := exec.Command(goTool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := fields[0]
		listed[pkg] = true
		var bad []string
		for _, dep := range fields[1:] {
			if sdkClient(dep) {
				bad = append(bad, dep)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s links the AWS SDK's clients: %s", pkg, strings.Join(bad, " "))
		}
	}
	for _, pkg := range sdkFree {
		if !listed[pkg] {
			t.Errorf("go list did not list %s", pkg)
		}
	}
}
