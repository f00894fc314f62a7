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
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
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
		Example: `  deployer describe
  deployer describe --output json
  deployer --backend aws --region eu-west-1 describe`,
		Args: cobra.NoArgs,
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
	a, err := Describe(ctx, f)
	if err != nil {
		return err
	}
	infos := a.Containers
	caller := schemas.Identity{Principal: a.Principal}
	if opts.Output == "json" {
		// The JSON document stays the list of containers.
		if a.InForce != "" {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: policy in force: %s\n", f.ProgramName(), a.InForce)
		}
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	if a.InForce != "" {
		_, _ = fmt.Fprintf(f.IO.Out, "policy in force: %s\n\n", a.InForce)
	}
	if len(infos) == 0 {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: %s may run nothing under this configuration\n", f.ProgramName(), caller.Principal)
		return nil
	}
	Print(f.IO.Out, infos)
	return nil
}

// Answer is what describe learned.
type Answer struct {
	Containers []policy.ContainerInfo
	Principal  string
	// InForce names the policy in force and where it comes from
	// ("sha256:… (deployer up, pid 12, from /etc/deployer.yaml)").
	InForce string
}

// Describe answers what the caller may run: from the configuration on
// the embedded backend (the caller holds it: the one the serving
// "deployer up" enforces, see localPolicy), and by asking the gatekeeper
// on AWS, where callers hold no copy of the policy (a describe request
// on the request queue, answered on a reply stream of its own). Shell
// completion asks it too, through a short-lived cache.
func Describe(ctx context.Context, f *factory.Factory) (Answer, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return Answer{}, err
	}
	if name == factory.BackendEmbedded {
		pol, inForce, err := localPolicy(f)
		if err != nil {
			return Answer{}, err
		}
		caller := schemas.Identity{Principal: factory.CurrentUser(), Source: "os_user"}
		return Answer{Containers: pol.Describe(caller), Principal: caller.Principal, InForce: inForce}, nil
	}
	c, err := f.ReadClient(ctx)
	if err != nil {
		return Answer{}, err
	}
	defer func() { _ = c.Close() }()
	actx, cancel := context.WithTimeout(ctx, answerWait)
	defer cancel()
	d, err := c.Describe(actx, client.CallerFromEnv(f.Getenv))
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return Answer{}, &factory.ExitError{Code: producer.ExitGaveUp,
			Err: fmt.Errorf("no answer from the gatekeeper of the %s within %s: is it deployed and running?", c.Where(), answerWait)}
	case errors.Is(err, client.ErrDescribeRejected):
		return Answer{}, &factory.ExitError{Code: producer.ExitRejected, Err: err}
	case err != nil:
		return Answer{}, err
	}
	a := Answer{Containers: d.Containers, Principal: d.Principal, InForce: d.PolicyDigest}
	if a.InForce != "" {
		a.InForce += " (the gatekeeper of the " + c.Where() + ")"
	}
	return a, nil
}

// localPolicy loads the policy in force on the embedded state directory:
// when "deployer up"s serve it, the configuration they enforce (an
// explicit one that differs is a configuration error, see
// factory.CheckServedConfig); otherwise the one this command resolves.
// It opens no database.
func localPolicy(f *factory.Factory) (*policy.Policy, string, error) {
	dir, err := f.ResolveStateDir()
	if err != nil {
		return nil, "", err
	}
	served, err := f.ServedConfigs()
	if err != nil {
		return nil, "", err
	}
	path := f.ExplicitConfigPath()
	explicit := path != ""
	if len(served) > 0 && !explicit {
		path = served[0].Config
	}
	if path == "" {
		if path, err = f.ResolveConfigPath(); err != nil {
			return nil, "", err
		}
	}
	pol, err := f.LoadPolicy(path)
	if err != nil {
		if len(served) > 0 {
			err = fmt.Errorf("%w\n(deployer up, pid %d, still enforces %s: it refuses a file like this one when it reloads; see its log)",
				err, served[0].PID, served[0].PolicyDigest)
		}
		return nil, "", factory.Config(fmt.Errorf("configuration %s:\n%w", path, err))
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if explicit {
		if err := factory.MismatchedConfig(path, pol.Digest(), dir, served); err != nil {
			return nil, "", err
		}
	}
	if len(served) == 0 {
		return pol, fmt.Sprintf("%s (from %s; no deployer up serves %s)", pol.Digest(), path, dir), nil
	}
	s := served[0]
	if s.PolicyDigest != pol.Digest() {
		// The file changed and the server has not (yet) put it in force.
		return pol, fmt.Sprintf("%s (deployer up, pid %d, from %s), but the file now reads as %s, which is not in force yet: what follows is the file's (send SIGHUP to pid %d to reload it)",
			s.PolicyDigest, s.PID, s.Config, pol.Digest(), s.PID), nil
	}
	return pol, fmt.Sprintf("%s (deployer up, pid %d, from %s)", pol.Digest(), s.PID, path), nil
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
