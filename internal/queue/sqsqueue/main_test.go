package sqsqueue_test

import (
	"os"
	"testing"
)

// TestMain drops AWS_CA_BUNDLE: the SDK refuses a custom CA bundle with
// the plain *http.Client awstest.Config passes it, and the tests talk
// plain HTTP to loopback (the fake, or moto) anyway.
func TestMain(m *testing.M) {
	_ = os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(m.Run())
}
