// Package describe implements "deployer describe" (and "deployer
// --describe-containers"): what the caller may run, and with which
// arguments.
package describe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Options are the parsed command line of "deployer describe".
type Options struct {
	Factory *factory.Factory
	Output  string
}

// NewCmdDescribe builds the command; runF replaces the action in tests.
func NewCmdDescribe(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f, Output: "text"}
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "List the containers and scripts you may run, and their arguments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDescribe(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json")
	return cmd
}

// answerWait bounds the wait for the gatekeeper's answer on AWS.
const answerWait = time.Minute

func runDescribe(ctx context.Context, opts *Options) error {
	f := opts.Factory
	infos, principal, err := describe(ctx, f)
	if err != nil {
		return err
	}
	caller := schemas.Identity{Principal: principal}
	if opts.Output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	if len(infos) == 0 {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %s may run nothing under this configuration\n", caller.Principal)
		return nil
	}
	Print(f.IO.Out, infos)
	return nil
}

// describe answers from the local configuration on the embedded backend
// (the caller holds it), and asks the gatekeeper on AWS, where callers
// hold no copy of the policy.
func describe(ctx context.Context, f *factory.Factory) ([]policy.ContainerInfo, string, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return nil, "", err
	}
	if name == factory.BackendEmbedded {
		pol, err := f.Policy()
		if err != nil {
			return nil, "", err
		}
		caller := schemas.Identity{Principal: factory.CurrentUser(), Source: "os_user"}
		return pol.Describe(caller), caller.Principal, nil
	}
	b, err := f.Backend(ctx)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = b.Close() }()
	actx, cancel := context.WithTimeout(ctx, answerWait)
	defer cancel()
	infos, principal, err := b.Client().Describe(actx, producer.CallerFromEnv(f.Getenv))
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, "", &factory.ExitError{Code: producer.ExitGaveUp,
			Err: fmt.Errorf("no answer from the gatekeeper of the %s within %s: is it deployed and running?", b.Where(), answerWait)}
	case errors.Is(err, producer.ErrDescribeRejected):
		return nil, "", &factory.ExitError{Code: producer.ExitRejected, Err: err}
	case err != nil:
		return nil, "", err
	}
	return infos, principal, nil
}

// Print renders what a caller may run.
func Print(w io.Writer, infos []policy.ContainerInfo) {
	for i, c := range infos {
		if i > 0 {
			_, _ = fmt.Fprintln(w)
		}
		_, _ = fmt.Fprintf(w, "%s", c.Name)
		if c.Description != "" {
			_, _ = fmt.Fprintf(w, " — %s", c.Description)
		}
		_, _ = fmt.Fprintf(w, "\n  lane %s (%d at once)\n", c.Lane, c.LaneLimit)
		for _, s := range c.Scripts {
			_, _ = fmt.Fprintf(w, "  %s (timeout %s)\n", s.Name, s.Timeout)
			if len(s.HardcodedArgv) > 0 || len(s.HardcodedArgs) > 0 {
				_, _ = fmt.Fprintf(w, "      runs as:     %s\n", jobview.Command(s.Name, append(append(append([]string{}, s.HardcodedArgv...), "…"), s.HardcodedArgs...)))
			}
			switch {
			case s.AnyOption:
				_, _ = fmt.Fprintln(w, "      options:     any that is not restricted")
			case len(s.AllowedOptions) == 0:
				_, _ = fmt.Fprintln(w, "      options:     none")
			default:
				_, _ = fmt.Fprintf(w, "      options:     %s\n", strings.Join(s.AllowedOptions, ", "))
			}
			if len(s.AllowedOptionsWithoutArgs) > 0 {
				_, _ = fmt.Fprintf(w, "      flags:       %s\n", strings.Join(s.AllowedOptionsWithoutArgs, ", "))
			}
			if len(s.RestrictedOptions) > 0 {
				_, _ = fmt.Fprintf(w, "      restricted:  %s\n", strings.Join(s.RestrictedOptions, ", "))
			}
			for o, p := range s.OptionPatterns {
				_, _ = fmt.Fprintf(w, "      %s must match %s\n", o, p)
			}
			if s.AllowPositionalArgs {
				_, _ = fmt.Fprintln(w, "      positional arguments allowed")
			}
			if len(s.AllowedRefs) > 0 {
				_, _ = fmt.Fprintf(w, "      refs:        %s\n", strings.Join(s.AllowedRefs, ", "))
			}
		}
	}
}
