package manifest

import (
	"testing"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

// The manifest refuses what the gatekeeper would refuse anyway, with the
// same limits, so that a batch fails before any of it is submitted.
func TestArgLimitsMatchPolicy(t *testing.T) {
	if maxArgs != policy.MaxArgs || maxArgBytes != policy.MaxArgBytes {
		t.Errorf("manifest limits %d args of %d bytes, policy %d of %d", maxArgs, maxArgBytes, policy.MaxArgs, policy.MaxArgBytes)
	}
}
