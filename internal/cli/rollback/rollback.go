// Package rollback implements "deployer rollback": take an AWS deployment
// back to its previous release after an upgrade that fails "deployer
// doctor".
package rollback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/rollback"
	"github.com/deployerhq/deployer/producer"
)

// Options are the parsed command line of "deployer rollback".
type Options struct {
	Factory *factory.Factory

	// To is the release to roll back to; empty: the one before the
	// release the gatekeeper's alias points at.
	To string
	// DryRun prints the plan and changes nothing.
	DryRun bool

	// Open returns the ports and the deployment of the AWS backend the
	// global flags select, and where it is. Nil: the factory's aws
	// backend's (see AWS); tests replace it.
	Open func(ctx context.Context, f *factory.Factory) (ports rollback.Ports, d rollback.Deployment, where string, err error)
}

// NewCmdRollback builds the command; runF replaces the action in tests.
func NewCmdRollback(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "rollback [--to RELEASE] [--dry-run]",
		Short: "Take an AWS deployment back to its previous release",
		Long: `Rollback takes an AWS deployment made by the Terraform module back to its
previous release, after an upgrade that fails "deployer doctor". It points
the alias live of the gatekeeper and logshipper Lambdas back at their
versions of that release, moves the worker service to that release's task
definition, and deregisters the task definition revisions of the release
rolled back from (where the family keeps another release's), so that
containers run the previous release's revisions again.

The release rolled back to is the one before the release the gatekeeper's
alias points at (printed, with the "--to" that repeats it); --to names
another. Running it twice goes back once: a second run finishes the first
and goes no further. --dry-run prints the plan and changes nothing.

It needs an operator's rights over the deployment (the ones Terraform is
applied with), not CI's; docs/rollback.md lists the IAM actions. The next
Terraform apply moves the deployment forward again: fix the release first.

Exit codes: 0 rolled back (or nothing left to change), 64 usage error (the
embedded backend has no releases), 66 nothing to roll back to (or no such
deployment or release), 69 AWS cannot be reached, 77 AWS denied a call
(the message names the action and the resource).`,
		Example: `  deployer rollback --region us-east-1 --dry-run
  deployer rollback --region us-east-1 --prefix deployer-
  deployer rollback --region us-east-1 --to 3f2a9c1d7e4b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "the release to roll back to (default: the one before the live release)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would change and change nothing")
	return cmd
}

// Run rolls back as opts say.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	name, err := f.ResolveBackend()
	if err != nil {
		return err
	}
	if name != factory.BackendAWS {
		return factory.Usage(errors.New(`rollback is for AWS deployments (select one with --region and --prefix, or --backend aws): the embedded backend runs this very binary, so to go back a release there, install the previous deployer version`))
	}
	open := opts.Open
	if open == nil {
		open = openAWS
	}
	ports, d, where, err := open(ctx, f)
	if err != nil {
		return err
	}
	d.To = opts.To
	plan, err := rollback.MakePlan(ctx, ports, d)
	if err != nil {
		return classify(err)
	}
	out, prog := f.IO.Out, f.ProgramName()
	printHeader(out, prog, where, plan)
	for _, n := range plan.Notes {
		_, _ = fmt.Fprintln(out, n)
	}
	if opts.DryRun {
		for _, c := range plan.Changes {
			_, _ = fmt.Fprintln(out, c.Line(true))
		}
		_, _ = fmt.Fprintf(out, "Dry run: nothing changed (%d changes planned). Without --dry-run, %s rollback makes them; then run %s doctor.\n",
			len(plan.Changes), prog, prog)
		return nil
	}
	err = rollback.Apply(ctx, ports, plan, func(c rollback.Change) { _, _ = fmt.Fprintln(out, c.Line(false)) })
	if err != nil {
		return classify(fmt.Errorf("rolling back to release %s stopped: %w\n  Run %s rollback --to %s again to finish it", plan.Target, err, prog, plan.Target))
	}
	if len(plan.Changes) == 0 {
		_, _ = fmt.Fprintf(out, "Nothing to change: the deployment is on release %s.\n", plan.Target)
	}
	_, _ = fmt.Fprintf(out, "Next: run %s doctor (with the same --region and --prefix) to check the deployment on release %s.\n", prog, plan.Target)
	return nil
}

func printHeader(out io.Writer, prog, where string, plan *rollback.Plan) {
	if plan.Resumed != "" {
		_, _ = fmt.Fprintf(out, "%s: release %s is live after an earlier rollback from release %s: finishing that rollback (name an older release with --to to go further back).\n",
			where, plan.Target, plan.Resumed)
	} else {
		_, _ = fmt.Fprintf(out, "%s: release %s is live (gatekeeper version %d); rolling back to release %s.\n",
			where, plan.Live, plan.LiveVersion, plan.Target)
	}
	for _, s := range plan.Skipped {
		_, _ = fmt.Fprintf(out, "Release %s passed over: an earlier rollback retired it (its task definitions are deregistered).\n", s)
	}
	if n := len(plan.Retired); n > 0 {
		what := "release " + plan.Retired[0]
		if n > 1 {
			what = "releases " + strings.Join(plan.Retired, ", ")
		}
		_, _ = fmt.Fprintf(out, "Rolling back %s. To repeat exactly this rollback (after an interruption): %s rollback --to %s\n",
			what, prog, plan.Target)
	}
}

// AWS is what rollback needs of the factory's aws backend
// (factory.Factory.AWS; package awscli implements it).
type AWS interface {
	// Rollback returns the ports and the deployment of the AWS backend
	// the global flags select, and where it is, without calling AWS.
	Rollback(ctx context.Context, f *factory.Factory) (ports rollback.Ports, d rollback.Deployment, where string, err error)
}

// openAWS opens the AWS adapters of the factory's aws backend; deployer,
// which has none, hands the command line to deployer-aws.
func openAWS(ctx context.Context, f *factory.Factory) (rollback.Ports, rollback.Deployment, string, error) {
	a, err := factory.AWSPart[AWS](f)
	if err != nil {
		return rollback.Ports{}, rollback.Deployment{}, "", err
	}
	return a.Rollback(ctx, f)
}

// classify gives err its exit code: 77 when AWS denied a call, 66 when
// there is nothing to roll back to or no such deployment; anything else
// (AWS unreachable: 69) as the root decides.
func classify(err error) error {
	var denied *rollback.DeniedError
	switch {
	case errors.As(err, &denied):
		return &factory.ExitError{Code: producer.ExitRejected, Err: fmt.Errorf(
			"%w\n  Rolling back needs an operator's rights over the deployment (here %s on %s), not CI's, which may only enqueue requests: run it with the credentials Terraform is applied with; docs/rollback.md lists the actions it calls",
			err, denied.Action, denied.Resource)}
	case errors.Is(err, rollback.ErrNothingToRollBack), errors.Is(err, rollback.ErrNotFound):
		return factory.NotFound(err)
	}
	return err
}
