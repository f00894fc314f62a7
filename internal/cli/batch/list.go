package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
)

// ListOptions are the parsed command line of "deployer batch list".
type ListOptions struct {
	Factory *factory.Factory
	Limit   int
	Output  string
}

// NewCmdList builds "deployer batch list"; runF replaces the action in
// tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the most recent batches",
		Long: `List prints the most recent batches, newest first: id, name, when and by whom
submitted, how many jobs are in each state, and the exit code "batch run"
gives an ended one.`,
		Example: `  deployer batch list
  deployer batch list --limit 5 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if opts.Limit < 1 || opts.Limit > 1000 {
				return factory.Usage(fmt.Errorf("--limit must be 1 to 1000, not %d", opts.Limit))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "most batches to list")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json for one object per batch")
	return cmd
}

func runList(ctx context.Context, opts *ListOptions) error {
	f := opts.Factory
	c, err := f.ReadClient(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	batches, err := c.Batches(ctx, opts.Limit)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		for _, bt := range batches {
			if err := enc.Encode(statusJSON(bt)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "BATCH ID\tNAME\tSUBMITTED\tBY\tJOBS\tEXIT")
	for _, bt := range batches {
		exit := "-"
		if bt.Ended() {
			exit = fmt.Sprint(bt.ExitCode())
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", bt.ID, jobview.Printable(bt.Name), bt.Since.UTC().Format(time.RFC3339),
			jobview.Printable(bt.Principal), countLine(bt), exit)
	}
	return tw.Flush()
}
