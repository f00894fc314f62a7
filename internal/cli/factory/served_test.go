package factory

import (
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/producer"
)

func TestMismatchedConfig(t *testing.T) {
	served := []embedded.ServedConfig{{PID: 7, Config: "/etc/a.yaml", PolicyDigest: "sha256:aaaaaaaaaaaa"}}
	if err := MismatchedConfig("/tmp/copy.yaml", "sha256:aaaaaaaaaaaa", "/s", served); err != nil {
		t.Errorf("a copy of the served configuration: %v", err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"another file", "/tmp/b.yaml", []string{"/tmp/b.yaml", "sha256:bbbbbbbbbbbb", "/etc/a.yaml", "sha256:aaaaaaaaaaaa", "drop --config", "restart the server with --config /tmp/b.yaml", "kill -HUP 7"}},
		{"the served file, changed", "/etc/a.yaml", []string{"serves this file but still enforces sha256:aaaaaaaaaaaa", "SIGHUP", "kill -HUP 7"}},
	} {
		err := MismatchedConfig(tc.path, "sha256:bbbbbbbbbbbb", "/s", served)
		if Code(err) != producer.ExitConfig {
			t.Fatalf("%s: exit %d, want %d (%v)", tc.name, Code(err), producer.ExitConfig, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %q:\n%v", tc.name, w, err)
			}
		}
	}
}
