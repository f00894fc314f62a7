// Package configcmd implements "deployer config": validate an allow-list
// configuration, and import one from the ECS deploy runner.
package configcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/cli/factory"
)

// NewCmdConfig builds "deployer config" and its subcommands.
func NewCmdConfig(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate or import allow-list configurations",
	}
	var local bool
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Report every problem in a configuration (exit 78 when there are any)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []policy.Option
			if local {
				opts = append(opts, policy.WithLocalBackend())
			}
			p, err := policy.Load(args[0], opts...)
			if err != nil {
				return factory.Config(fmt.Errorf("%s:\n%w", args[0], err))
			}
			n := 0
			cfg := p.Config()
			for _, c := range cfg.Containers {
				n += len(c.ScriptConfig)
			}
			_, _ = fmt.Fprintf(f.IO.Out, "%s: valid (%s, %s)\n", args[0], plural(len(cfg.Containers), "container"), plural(n, "script"))
			return nil
		},
	}
	validate.Flags().BoolVar(&local, "local", false, "also check what the embedded backend needs (scripts directories and executable scripts)")

	importEDR := &cobra.Command{
		Use:   "import-edr FILE",
		Short: "Convert an ECS deploy runner container_images variable (JSON) into a configuration",
		Long: `import-edr reads the JSON value of the ECS deploy runner's container_images
variable (or a tfvars.json holding it) and prints the equivalent deployer
configuration as YAML on stdout, with a note on stderr for everything it had
to change or make explicit. Review the result before using it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(filepath.Clean(args[0]))
			if err != nil {
				return factory.Usage(err)
			}
			cfg, notes, err := policy.ImportEDR(data)
			for _, n := range notes {
				_, _ = fmt.Fprintf(f.IO.ErrOut, "note: %s\n", n)
			}
			var ce *policy.ConfigError
			if err != nil && !errors.As(err, &ce) {
				return factory.Config(fmt.Errorf("importing %s: %w", args[0], err))
			}
			// Through JSON, so the YAML uses the configuration's field names.
			js, merr := json.Marshal(cfg)
			if merr != nil {
				return merr
			}
			var doc any
			if merr := json.Unmarshal(js, &doc); merr != nil {
				return merr
			}
			out, merr := yaml.Marshal(doc)
			if merr != nil {
				return merr
			}
			_, _ = f.IO.Out.Write(out)
			if ce != nil {
				return factory.Config(fmt.Errorf("the imported configuration needs fixing:\n%w", ce))
			}
			return nil
		},
	}
	cmd.AddCommand(validate, importEDR)
	return cmd
}

// plural is "1 container", "2 containers".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
