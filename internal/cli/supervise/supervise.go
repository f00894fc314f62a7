// Package supervise implements the hidden command the local runner
// re-executes the deployer binary with: one supervisor process per task,
// which outlives the worker that started it.
package supervise

import (
	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/runner/local"
)

// NewCmdSupervise builds the hidden command.
func NewCmdSupervise() *cobra.Command {
	return &cobra.Command{
		Use:                factory.SuperviseCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := local.Supervise(cmd.Context(), args); code != 0 {
				return factory.Exit(code)
			}
			return nil
		},
	}
}
