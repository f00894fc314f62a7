package awsrollback_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/rollback/awsrollback/awsrollbacktest"
	"github.com/deployerhq/deployer/internal/rollback/rollbacktest"
)

// Only the HTTP clients' idle keep-alive connections may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// TestSuiteOnMoto runs the rollback suite on an emulator of Lambda, ECS
// and IAM (DEPLOYER_TEST_AWS_ENDPOINT: moto in CI): each scenario
// creates the functions from a tiny zip, publishes versions with their
// release in the description, points the alias live, registers tagged
// task definitions and the worker service, rolls back through the
// adapter, and reads the result back. moto 5.2.1 ignores UpdateAlias's
// RevisionId and lists no versions of a missing function instead of
// failing: fake_test.go holds the adapter to AWS's answers there.
func TestSuiteOnMoto(t *testing.T) {
	rollbacktest.Exercise(t, rollbacktest.Features{NoRevisionID: true, EmptyVersionsOfMissingFunction: true}, awsrollbacktest.Harness)
}
