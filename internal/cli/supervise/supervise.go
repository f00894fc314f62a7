// Package supervise implements the hidden commands the local runner
// re-executes the deployer binary with: one supervisor process per task,
// which outlives the worker that started it, and the task's entrypoint the
// supervisor runs (the same code as deployer-task in a task image).
//
// Both resolve secrets as deployer-supervisor does, without the AWS SDK,
// which the deployer binary does not link: env: and file: references
// themselves, Secrets Manager and SSM ones in the helper deployer-aws
// beside the binary (package secretproc), whose hidden command Command
// "__secrets" is the third here.
package supervise

import (
	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/secretproc"
)

// NewCmdSupervise builds the hidden command.
func NewCmdSupervise() *cobra.Command {
	return &cobra.Command{
		Use:                factory.SuperviseCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := local.Supervise(cmd.Context(), args, cmd.Root().Version, secretproc.BesideExecutable()); code != 0 {
				return factory.Exit(code)
			}
			return nil
		},
	}
}

// NewCmdTask builds the hidden command that runs a task's script as
// deployer-task does.
func NewCmdTask() *cobra.Command {
	return &cobra.Command{
		Use:                local.TaskCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The binary is the local runner's task image: its version
			// probe (a canary's task) reports the deployer version.
			if code := task.Main(cmd.Context(), args, cmd.Root().Version, secretproc.BesideExecutable()); code != 0 {
				return factory.Exit(code)
			}
			return nil
		},
	}
}

// AWSSecrets is what the helper command needs of the factory's aws
// backend (factory.Factory.AWS; package awscli implements it).
type AWSSecrets interface {
	// Secrets reads Secrets Manager and SSM references.
	Secrets() secret.Fetcher
}

// NewCmdSecrets builds the hidden command that resolves a task's
// secrets for a supervisor (secretproc.Serve): deployer-aws's. deployer,
// which has no aws backend, hands it to deployer-aws.
func NewCmdSecrets(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:                secretproc.Command,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := factory.AWSPart[AWSSecrets](f)
			if err != nil {
				return err
			}
			return secretproc.Serve(cmd.Context(), f.IO.In, f.IO.Out, &secret.Resolver{AWS: a.Secrets()})
		},
	}
}
