// Package supervise implements the hidden commands the local runner
// re-executes the deployer binary with: one supervisor process per task,
// which outlives the worker that started it, and the task's entrypoint the
// supervisor runs (the same code as deployer-task in a task image).
//
// Both resolve secrets without the AWS SDK, which the deployer binary
// does not link (secret.Resolver without a Fetcher): a task's env: and
// file: references resolve, its Secrets Manager and SSM references fail
// with secret.ErrNoAWS. deployer-supervisor, which deployer up prefers
// when it lies next to deployer, resolves them all.
package supervise

import (
	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
)

// NewCmdSupervise builds the hidden command.
func NewCmdSupervise() *cobra.Command {
	return &cobra.Command{
		Use:                factory.SuperviseCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := local.Supervise(cmd.Context(), args, cmd.Root().Version, &secret.Resolver{}); code != 0 {
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
			if code := task.Main(cmd.Context(), args, cmd.Root().Version, &secret.Resolver{}); code != 0 {
				return factory.Exit(code)
			}
			return nil
		},
	}
}
