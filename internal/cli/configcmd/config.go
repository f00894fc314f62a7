// Package configcmd implements "deployer config": validate an allow-list
// configuration, and import one from the ECS deploy runner.
package configcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/tfvars"
)

// maxEDRFile bounds the variable file import-edr reads.
const maxEDRFile = 4 << 20

// NewCmdConfig builds "deployer config" and its subcommands.
func NewCmdConfig(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate or import allow-list configurations",
		Example: `  deployer config validate --local deployer.yaml
  deployer config import-edr terraform.tfvars > deployer.yaml`,
	}
	var local bool
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Report every problem in a configuration (exit 78 when there are any)",
		Example: `  deployer config validate deployer.yaml
  deployer config validate --local deployer.yaml`,
		Args: cobra.ExactArgs(1),
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

	var importOpts policy.EDRImportOptions
	importEDR := &cobra.Command{
		Use:   "import-edr FILE",
		Short: "Convert an ECS deploy runner's Terraform variables (.tfvars, .hcl, .tfvars.json) into a configuration",
		Long: `import-edr reads the ECS deploy runner's Terraform variables as you keep
them: an HCL variable file (.tfvars), a Terragrunt configuration (.hcl: its
inputs, which may use literal locals) or a JSON variable file (.tfvars.json).
It converts the standard configuration's docker_image_builder_config,
ami_builder_config, terraform_planner_config and terraform_applier_config
(null: the container is left out), container_images and
additional_container_images, and container_cpu, container_memory,
container_max_cpu, container_max_memory and container_default_launch_type.

Values must be literal: a reference to a variable, a resource or a function
call is an error naming its file and line.

It prints the configuration as YAML on stdout. Comments in it say what changed
in meaning and name every setting it could not carry ("not carried:"), such as
IAM policies and git credentials. Without --scripts-dir the configuration is
for the AWS backend (each container's image is its container_image); with
--scripts-dir DIR each container also gets local.scripts_dir DIR/CONTAINER for
the embedded backend ("deployer config validate --local" checks the scripts
are there).`,
		Example: `  deployer config import-edr terraform.tfvars > deployer.yaml
  deployer config import-edr --scripts-dir scripts terragrunt.hcl > deployer.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readLimited(args[0])
			if err != nil {
				return factory.Usage(err)
			}
			file, err := tfvars.Read(args[0], data, policy.EDRVariableWanted)
			if err != nil {
				return factory.Config(fmt.Errorf("importing %s:\n%w", args[0], err))
			}
			vars := make(map[string]policy.EDRVariable, len(file.Variables))
			for k, v := range file.Variables {
				vars[k] = policy.EDRVariable(v)
			}
			imp, err := policy.ImportEDRVariables(vars, file.Skipped, importOpts)
			var ce *policy.ConfigError
			if err != nil && !errors.As(err, &ce) {
				return factory.Config(fmt.Errorf("importing %s: %w", args[0], err))
			}
			out, merr := imp.YAML(args[0])
			if merr != nil {
				return merr
			}
			_, _ = f.IO.Out.Write(out)
			notCarried := 0
			for _, n := range imp.Notes {
				if n.NotCarried {
					notCarried++
				}
			}
			_, _ = fmt.Fprintf(f.IO.ErrOut, "imported %d containers from %s: %d notes, %d of them on settings not carried; see the comments in the output\n",
				len(imp.Config.Containers), args[0], len(imp.Notes), notCarried)
			if ce != nil {
				return factory.Config(fmt.Errorf("the imported configuration needs fixing:\n%w", ce))
			}
			return nil
		},
	}
	importEDR.Flags().StringVar(&importOpts.ScriptsDir, "scripts-dir", "", "also configure the embedded backend: each container's scripts are in `DIR`/CONTAINER (relative to the configuration file)")
	cmd.AddCommand(validate, importEDR)
	return cmd
}

func readLimited(name string) ([]byte, error) {
	fh, err := os.Open(filepath.Clean(name))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxEDRFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEDRFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxEDRFile)
	}
	return data, nil
}

// plural is "1 container", "2 containers".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
