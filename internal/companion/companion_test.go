package companion

import (
	"runtime/debug"
	"strings"
	"testing"
)

// build is the build information of a deployer built by "make build".
func build() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "github.com/deployerhq/deployer/cmd/deployer",
		Main:      debug.Module{Path: "github.com/deployerhq/deployer", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: "-X github.com/deployerhq/deployer/internal/version.Stamp=v1.2.3"},
			{Key: "-tags", Value: "grpcnotrace"},
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "vcs.revision", Value: "0123456789abcdef"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
}

func TestSameBuild(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*debug.BuildInfo)
		want   string // in the error; "" for none
	}{
		{"the same build", func(*debug.BuildInfo) {}, ""},
		{"another main package", func(b *debug.BuildInfo) { b.Path = "github.com/deployerhq/deployer/cmd/worker" }, `main package is "github.com/deployerhq/deployer/cmd/worker"`},
		{"another Go", func(b *debug.BuildInfo) { b.GoVersion = "go1.26.7" }, "built with go1.26.7"},
		{"another module version", func(b *debug.BuildInfo) { b.Main.Version = "v1.2.2" }, "module github.com/deployerhq/deployer v1.2.2"},
		{"another revision", func(b *debug.BuildInfo) { b.Settings[3].Value = "fedcba9876543210" }, `vcs.revision is "fedcba9876543210"`},
		{"another version stamp", func(b *debug.BuildInfo) {
			b.Settings[0].Value = "-X github.com/deployerhq/deployer/internal/version.Stamp=v1.2.2"
		}, "-ldflags"},
		{"a setting deployer lacks", func(b *debug.BuildInfo) {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: "-race", Value: "true"})
		}, "its -race is \"true\", this deployer has none"},
		{"a setting it lacks", func(b *debug.BuildInfo) { b.Settings = b.Settings[1:] }, `its -ldflags is ""`},
	} {
		t.Run(c.name, func(t *testing.T) {
			theirs := build()
			theirs.Path = "github.com/deployerhq/deployer/cmd/deployer-supervisor"
			c.change(theirs)
			err := SameBuild(build(), theirs, "github.com/deployerhq/deployer/cmd/deployer-supervisor")
			switch {
			case c.want == "" && err != nil:
				t.Errorf("SameBuild: %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("SameBuild: %v, want an error with %q", err, c.want)
			}
		})
	}
}
