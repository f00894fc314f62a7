// Command genmodule writes the standard configuration as the Terraform
// module reads it (terraform/modules/deployer/standard.json): its lanes
// and containers, parsed and checked as the gatekeeper parses them, without
// the embedded backend's local blocks. The module's standard tasks take
// their script_config from there, and only the deployment's own values
// (repositories, applied refs, registry, task definitions, secrets) from
// its *_config variables, so the module cannot drift from
// config/standard:
//
//	go run ./config/standard/genmodule -o terraform/modules/deployer/standard.json
//
// (make docs). Its test fails when the file is stale (make verify).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

func main() {
	config := flag.String("config", "config/standard/deployer.yaml", "the standard configuration")
	out := flag.String("o", "terraform/modules/deployer/standard.json", "file to write")
	flag.Parse()
	data, err := generate(*config)
	if err == nil {
		err = os.WriteFile(*out, data, 0o644) //nolint:gosec // part of the Terraform module, world-readable on purpose
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmodule:", err)
		os.Exit(1)
	}
}

// generate returns the module's copy of the configuration at path.
func generate(path string) ([]byte, error) {
	p, err := policy.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	c := p.Config()
	out := schemas.Config{Lanes: c.Lanes, Containers: map[string]schemas.Container{}}
	for name, ct := range c.Containers {
		ct.Local = nil
		out.Containers[name] = ct
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
