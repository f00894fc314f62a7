package version

import (
	"runtime/debug"
	"testing"
)

// TestVersionFallsBackToTheVCSRevision: an unstamped binary names the
// revision it was built from, marked dirty when modified.
func TestVersionFallsBackToTheVCSRevision(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got := Of(info, true); got != "0123456789ab-dirty" {
		t.Errorf("Of = %q, want 0123456789ab-dirty", got)
	}
	if got := Of(&debug.BuildInfo{}, true); got != "dev" {
		t.Errorf("Of without VCS information = %q, want dev", got)
	}
	if got := Of(&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true); got != "v1.2.3" {
		t.Errorf("Of of a module build = %q, want v1.2.3", got)
	}
	old := Stamp
	Stamp = "v9.9.9"
	defer func() { Stamp = old }()
	if got := Of(info, true); got != "v9.9.9" {
		t.Errorf("stamped Of = %q, want v9.9.9", got)
	}
}
