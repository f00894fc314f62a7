package manifest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/manifest"
	"github.com/deployerhq/deployer/schemas"
)

// The example batch parses and every one of its jobs passes the example
// configuration's policy, so "deployer batch run -f" on it works out of the
// box.
func TestExampleBatch(t *testing.T) {
	dir := filepath.Join("..", "cli", "example")
	m, err := manifest.Load(filepath.Join(dir, "batch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Jobs) != 4 || m.MaxInFlight != 2 {
		t.Fatalf("got %+v", m)
	}
	p, err := policy.Load(filepath.Join(dir, "deployer.yaml"), policy.WithLocalBackend())
	if err != nil {
		t.Fatal(err)
	}
	caller := schemas.Identity{Principal: "user:example", Source: "local"}
	for i, j := range m.Jobs {
		req := schemas.JobRequest{
			JobID: "01HZX3K8Q9M2N4P5R6S7T8V9W0", Container: j.Container, Script: j.Script,
			Args: schemas.ArgList(j.Args...), Stream: "s", Attempt: 1,
			BatchID: schemas.BatchIDPrefix + "01HZX3K8Q9M2N4P5R6S7T8V9W0",
			Batch:   &schemas.BatchSpec{Name: m.Name, Size: len(m.Jobs), Index: i + 1, Key: j.Key, MaxInFlight: m.MaxInFlight},
		}
		if _, err := p.Resolve(req, caller, time.Now()); err != nil {
			t.Errorf("job %s: %v", j.Key, err)
		}
	}
}
