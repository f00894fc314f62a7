// Package batch implements "deployer batch": run a manifest of jobs as one
// batch, and follow, inspect, cancel and list batches from any machine
// that reaches the backend.
package batch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// NewCmdBatch builds "deployer batch" and its subcommands.
func NewCmdBatch(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Run a manifest of jobs as one batch, and follow, cancel and list batches",
		Long: `A batch is a manifest's jobs (a list, or a matrix expanded into jobs) run
under one batch id, with an optional bound of its own on how many run at
once (max_in_flight, on top of each lane's limit) and fail_fast. Every job
goes through the gatekeeper on its own: a batch never widens what a caller
may run.

A batch lives in the backend, not in the command that submitted it: "batch
run --no-wait" prints its id, and "batch wait|status|cancel|logs ID" work
from any machine that reaches the backend.`,
		Example: `  deployer batch run -f internal/cli/example/batch.yaml
  deployer batch list
  deployer batch status batch-01JD3Q8Z5W6X7Y8Z9A0B1C2D3E`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		NewCmdRun(f, nil),
		NewCmdWait(f, nil),
		NewCmdStatus(f, nil),
		NewCmdCancel(f, nil),
		NewCmdLogs(f, nil),
		NewCmdList(f, nil),
	)
	return cmd
}

// batchIDArg checks the one argument of the commands that take a batch id.
func batchIDArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return factory.Usage(fmt.Errorf("%s needs one batch id: deployer %[1]s BATCH_ID", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")))
	}
	if !schemas.ValidBatchID(args[0]) {
		return factory.Usage(fmt.Errorf("%q is not a batch id: batch ids look like %s01J2ZK5W6X7Y8Z9A0B1C2D3E4F", args[0], schemas.BatchIDPrefix))
	}
	return nil
}

// pollEvery is how often a follower reads a batch's journal on the
// selected backend.
func pollEvery(f *factory.Factory) (time.Duration, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return 0, err
	}
	if name == factory.BackendAWS {
		return producer.BatchPollAWS, nil
	}
	return producer.BatchPollEmbedded, nil
}

// checkMaxWait refuses a --max-wait-time that is not positive.
func checkMaxWait(d time.Duration) error {
	if d <= 0 {
		return factory.Usage(errors.New("--max-wait-time must be positive"))
	}
	return nil
}
