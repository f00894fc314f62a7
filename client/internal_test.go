package client

import (
	"testing"

	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/internal/runner/local"
)

// TestNamesMatchTheEngines: the client spells these wire values and
// arguments itself, so that its documentation shows them; they must be
// the engine's. (The verdicts are the engine's own, aliased.)
func TestNamesMatchTheEngines(t *testing.T) {
	pairs := []struct{ client, engine string }{
		{string(RunDeadLetters), replay.QueueRun},
		{string(RequestDeadLetters), replay.QueueRequest},
		{TaskArg, local.TaskCommand},
		{DefaultAnswerWait.String(), replay.DefaultAnswerWait.String()},
	}
	for _, p := range pairs {
		if p.client != p.engine {
			t.Errorf("client says %q, the engine %q", p.client, p.engine)
		}
	}
}
