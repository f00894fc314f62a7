// Package standard holds the helpers of the standard configuration
// (deployer.yaml beside this file, its scripts in scripts/): StubConfig
// derives from it a configuration that runs the scripts with the stub
// tools of stubs/ instead of git, terraform, terragrunt, packer and
// Kaniko, for the tests and "make run-standard". The standard
// configuration itself is used as it is; nothing here changes its policy.
package standard

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

// StubPath is the PATH of stub runs after the stubs directory: the shell
// utilities the scripts need (mktemp, cp, rm, printenv).
const StubPath = "/usr/local/bin:/usr/bin:/bin"

// StubConfig reads the configuration at src and writes into dir a copy
// for stub runs on the embedded backend: every container's PATH starts
// with the stubs directory beside src, env is added to every container's
// environment_vars, and every secret reference becomes a file: reference
// to a file of dir holding "stub-NAME" (no cloud is asked). The argument
// policy is the original's, unchanged. It returns the copy's path.
func StubConfig(src, dir string, env map[string]string) (string, error) {
	p, err := policy.Load(src, policy.WithLocalBackend())
	if err != nil {
		return "", fmt.Errorf("loading %s: %w", src, err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", src, err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	stubs := filepath.Join(filepath.Dir(abs), "stubs")
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", secrets, err)
	}
	cfg := p.Config()
	for name, c := range cfg.Containers {
		vars := maps.Clone(c.EnvironmentVars)
		if vars == nil {
			vars = map[string]string{}
		}
		vars["PATH"] = stubs + ":" + StubPath
		maps.Copy(vars, env)
		c.EnvironmentVars = vars
		for k := range c.Secrets {
			file := filepath.Join(secrets, k)
			if err := os.WriteFile(file, []byte("stub-"+k), 0o600); err != nil {
				return "", fmt.Errorf("writing the stub secret %s: %w", k, err)
			}
			c.Secrets[k] = "file:" + file
		}
		cfg.Containers[name] = c
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding the stub configuration: %w", err)
	}
	out := filepath.Join(dir, "deployer.json")
	if err := os.WriteFile(out, append(data, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	if _, err := policy.Load(out, policy.WithLocalBackend()); err != nil {
		return "", fmt.Errorf("the stub configuration does not load: %w", err)
	}
	return out, nil
}
