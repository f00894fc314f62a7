package factory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/gatekeeper/policy"
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

func TestServingSourceKnowsTheServedFileWithoutParsing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.yaml")
	content := []byte("containers: {}\n") // not a valid configuration: never parsed here
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	source := policy.SourceDigest(content)
	this := embedded.ServedConfig{PID: 7, Config: path, PolicyDigest: "sha256:aaaaaaaaaaaa", Source: source}
	if !servingSource([]embedded.ServedConfig{this, this}, path) {
		t.Error("servers of this file as it is: not recognized")
	}
	other, earlier := this, this
	other.Config = path + ".copy"
	earlier.Source = ""
	for name, served := range map[string][]embedded.ServedConfig{
		"a server of another file":            {this, other},
		"a server of an earlier version":      {earlier},
		"a server of the file as it was once": {{PID: 7, Config: path, Source: policy.SourceDigest([]byte("containers: {a: {}}\n"))}},
	} {
		if servingSource(served, path) {
			t.Errorf("%s: taken as serving this file", name)
		}
	}
	if servingSource([]embedded.ServedConfig{this}, path+".missing") {
		t.Error("a missing file: taken as served")
	}
}
