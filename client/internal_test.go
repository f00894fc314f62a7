package client

import (
	"testing"

	"github.com/deployerhq/deployer/internal/replay"
	"github.com/deployerhq/deployer/internal/runner/local"
)

// TestNamesMatchTheEngines: the client spells its wire values and
// arguments itself, so that its documentation shows them; they must be
// the engine's.
func TestNamesMatchTheEngines(t *testing.T) {
	pairs := []struct{ client, engine string }{
		{string(RunDeadLetters), replay.QueueRun},
		{string(RequestDeadLetters), replay.QueueRequest},
		{string(VerdictWouldReplay), string(replay.VerdictWouldReplay)},
		{string(VerdictReplayed), string(replay.VerdictReplayed)},
		{string(VerdictRejected), string(replay.VerdictRejected)},
		{string(VerdictAlready), string(replay.VerdictAlready)},
		{string(VerdictPending), string(replay.VerdictPending)},
		{string(VerdictUnreplayable), string(replay.VerdictUnreplayable)},
		{string(VerdictNotFound), string(replay.VerdictNotFound)},
		{string(VerdictFailed), string(replay.VerdictFailed)},
		{TaskArg, local.TaskCommand},
		{DefaultAnswerWait.String(), replay.DefaultAnswerWait.String()},
	}
	for _, p := range pairs {
		if p.client != p.engine {
			t.Errorf("client says %q, the engine %q", p.client, p.engine)
		}
	}
}
