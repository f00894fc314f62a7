package awsbackend_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The pipelines these tests serve stop with their tests; only the HTTP
// clients' idle keep-alive connections may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
