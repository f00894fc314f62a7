package ecsrunner_test

import (
	"os"
	"testing"
)

// TestMain drops AWS_CA_BUNDLE: the tests talk plain HTTP to loopback
// fakes, and with a CA bundle set the SDK's configuration loader refuses
// the plain *http.Client (counting, fault-injecting) the tests need
// ("unable to add custom RootCAs HTTPClient, has no WithTransportOptions").
func TestMain(m *testing.M) {
	_ = os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(m.Run())
}
