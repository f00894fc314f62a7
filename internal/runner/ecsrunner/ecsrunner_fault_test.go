package ecsrunner_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/runner/runnertest"
)

// TestConformanceUnderFaults runs the runner suite against the ECS fake
// over a transport that throttles, answers 500 and resets connections
// before the request is sent (3% each), with up to 10ms of added latency,
// and also resets 5% of every call after ECS acted on it. That last fault
// is the one RunTask's clientToken exists for: the SDK resends the
// RunTask with the same token and ECS answers with the task it already
// started, so the suite's Runs check (each job's attempt ran once) holds;
// StopTask and the reads are idempotent.
func TestConformanceUnderFaults(t *testing.T) {
	after := &awsx.FaultTransport{ResetAfter: 0.05, FirstOfEach: true}
	ft := &awsx.FaultTransport{Next: after, Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 10 * time.Millisecond, FirstOfEach: true}
	t.Run("suite", func(t *testing.T) {
		runnertest.Run(t, runnertest.Features{Tags: true, Timeout: 20 * time.Second}, func(t *testing.T) runnertest.Harness {
			fake := newFake()
			e := newEnv(t, fake)
			r, _ := e.client(t, ft, func(o *ecs.Options) { o.RetryMaxAttempts = faultAttempts })
			return runnertest.Harness{Runner: r, Spec: spec, Runs: runs(fake)}
		})
	})
	t.Logf("faults absorbed: %v; answers lost after ECS acted: %v", ft.Faults(), after.Faults())
	if m := append(ft.Missing(), after.Missing()...); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}

// faultAttempts replaces the test config's five attempts, as in the other
// fault suites: a call meets up to 14% of faults, and five in a row
// happen over a slow run's calls (the suite polls more when the machine
// is busy); eight in a row (about 1.5e-7) do not.
const faultAttempts = 8
