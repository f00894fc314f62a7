// Package doctor implements "deployer doctor": it proves a deployment end
// to end for the calling identity, before and after an upgrade. It checks,
// in order, that the backend can be reached, that the deployment's queues
// exist, that the gatekeeper answers and what the caller may run, that the
// deployment's IAM policies hold what its roles need (when a permission
// checker is wired), and it runs a canary of each container the caller
// may run, which reports the deployer-task version of its image. Every
// failure has a named cause and an exit code (see Causes); doctor runs
// every check it can, prints every failure, and exits with the code of
// the first failed check. docs/doctor.md says what each check proves and
// how to fix each cause.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
)

// DefaultTimeout bounds the gatekeeper's answer and each canary.
const DefaultTimeout = 30 * time.Second

// Options are the parsed command line of "deployer doctor".
type Options struct {
	Factory *factory.Factory
	// Timeout bounds the gatekeeper's answer, and each canary from its
	// submission to its end. Defaults to DefaultTimeout.
	Timeout time.Duration
	// Containers limits the canaries to these containers.
	Containers []string
	// SkipCanary runs no canary.
	SkipCanary bool
	// Output is text or json.
	Output string
	// Permissions returns the permission checker of an opened backend;
	// nil, or a nil interface returned, skips the permissions check (the
	// embedded backend has no IAM). NewCmdDoctor sets it to the
	// factory's aws backend's (AWS.Permissions), the seam of the AWS
	// backend's static IAM policy check.
	Permissions func(backend.Backend) PermissionChecker
}

// NewCmdDoctor builds the command; runF replaces the action in tests.
func NewCmdDoctor(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f, Permissions: permissionsFor(f)}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Prove the deployment works for you: queues, gatekeeper, permissions, a canary per container",
		Long: `Doctor proves a deployment end to end for the identity you run it as: run it
before and after an upgrade. In order, it checks that:

  reach        the backend answers (the AWS endpoint; the state directory,
               served by a deployer up, started if none serves it);
  queues       the request queue, its dead-letter queue, the run dead-letter
               queue, the cancel queue and the run queue of each lane you use
               exist;
  gatekeeper   the gatekeeper answers a describe request within --timeout,
               under which policy, and what you may run;
  permissions  the IAM policies of the deployment's roles and yours hold what
               each needs (AWS: read over the IAM API; what cannot be read
               is said, not failed);
  canary       a canary job of each container you may run reports the
               deployer-task version of its image: the task starts through
               the image's entrypoint, as every job's does, and takes no lane
               slot, so busy lanes do not hold it up.

It runs every check it can, prints one line per check (every failure with its
cause and how to fix it), then the verdict. The exit code is the first failed
check's: 0 all passed, 69 unreachable, 80 queue_missing, 81
gatekeeper_not_answering, 82 nothing_allowed, 83 task_definition_missing, 84
permission_missing, 85 canary_failed. See docs/doctor.md.`,
		Example: `  deployer doctor
  deployer --backend aws --region eu-west-1 doctor --timeout 2m
  deployer doctor --container terraform-planner --container ami-builder
  deployer doctor --skip-canary --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if opts.Timeout <= 0 {
				return factory.Usage(errors.New("--timeout must be positive"))
			}
			for _, c := range opts.Containers {
				if c == "" {
					return factory.Usage(errors.New("--container needs a container name"))
				}
			}
			if opts.SkipCanary && len(opts.Containers) > 0 {
				return factory.Usage(errors.New("--container chooses canaries, and --skip-canary runs none: give one or the other"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDoctor(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", DefaultTimeout, "how long the gatekeeper may take to answer, and each canary to end")
	cmd.Flags().StringArrayVar(&opts.Containers, "container", nil, "run the canary of this container only (repeatable; default: every container you may run)")
	cmd.Flags().BoolVar(&opts.SkipCanary, "skip-canary", false, "run no canary")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "text, or json (one object with every check)")
	return cmd
}

func runDoctor(ctx context.Context, opts *Options) error {
	f := opts.Factory
	o, err := open(ctx, f)
	if err != nil {
		return err
	}
	defer o.release()
	var rep Report
	if o.d == nil {
		rep = Run(ctx, unopened{where: o.reach.Subject}, o.reach, Config{})
	} else {
		cfg := Config{Timeout: opts.Timeout, Containers: opts.Containers, SkipCanary: opts.SkipCanary}
		if opts.Permissions != nil {
			cfg.Permissions = opts.Permissions(o.d.b)
		}
		rep = Run(ctx, o.d, o.reach, cfg)
	}
	if ctx.Err() != nil {
		return factory.Exit(producer.ExitCancelled)
	}
	if opts.Output == "json" {
		if err := WriteJSON(f.IO.Out, rep); err != nil {
			return err
		}
	} else {
		WriteText(f.IO.Out, f.ProgramName(), rep)
	}
	if code := rep.ExitCode(); code != 0 {
		return factory.Exit(code)
	}
	return nil
}

// unopened stands for a backend that could not be opened: Run only
// reports the reach check's failure on it.
type unopened struct {
	Deployment
	where string
}

func (u unopened) Where() string { return u.where }

// JSON is the document of --output json.
type JSON struct {
	Backend  string   `json:"backend"`
	Verdict  string   `json:"verdict"`
	ExitCode int      `json:"exit_code"`
	Cause    string   `json:"cause,omitempty"`
	Checks   []Result `json:"checks"`
}

// WriteJSON writes the report as one JSON object.
func WriteJSON(w io.Writer, rep Report) error {
	doc := JSON{Backend: rep.Where, Verdict: "pass", Checks: rep.Results}
	if first, ok := rep.First(); ok {
		doc.Verdict, doc.ExitCode, doc.Cause = "fail", first.ExitCode, first.Cause
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteText writes the report for a person: a line naming the backend,
// one line per check (the queues that exist on one line), every failure
// with its cause, exit code and fix, and the verdict last.
func WriteText(w io.Writer, program string, rep Report) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
	p("%s doctor: %s\n", program, jobview.Printable(rep.Where))
	line := func(r Result) {
		status := string(r.Status)
		msg := r.Message
		if r.Check == CheckCanary && r.Subject != "" {
			msg = r.Subject + ": " + msg
		}
		switch r.Status {
		case StatusFail:
			status = "FAIL"
			msg += fmt.Sprintf(" [%s, exit %d]", r.Cause, r.ExitCode)
		case StatusOK:
			msg += fmt.Sprintf(" (%s)", r.Duration)
		}
		p("%-12s %-4s  %s\n", r.Check, status, jobview.Printable(msg))
		if r.Status == StatusFail && r.Fix != "" {
			p("%-12s %-4s  fix: %s\n", "", "", jobview.Printable(r.Fix))
		}
	}
	failed, queuesDone := 0, false
	for _, r := range rep.Results {
		if r.Status == StatusFail {
			failed++
		}
		if r.Check != CheckQueues {
			line(r)
			continue
		}
		if queuesDone {
			continue
		}
		queuesDone = true
		var ok []string
		var took time.Duration
		var bad []Result
		for _, q := range rep.Results {
			switch {
			case q.Check != CheckQueues:
			case q.Status == StatusOK:
				ok, took = append(ok, q.Subject), took+q.Duration.D()
			default:
				bad = append(bad, q)
			}
		}
		if len(ok) > 0 {
			verb := "exist"
			if len(ok) == 1 {
				verb = "exists"
			}
			p("%-12s %-4s  %s %s (%s)\n", CheckQueues, "ok", jobview.Printable(strings.Join(ok, ", ")), verb, took)
		}
		for _, q := range bad {
			line(q)
		}
	}
	first, ok := rep.First()
	if !ok {
		skipped := 0
		for _, r := range rep.Results {
			if r.Status == StatusSkip {
				skipped++
			}
		}
		p("%s doctor: PASS, exit 0: %d checks passed, %d skipped\n", program, len(rep.Results)-skipped, skipped)
		return
	}
	more := ""
	if failed > 1 {
		more = fmt.Sprintf("; %d checks failed in all", failed)
	}
	p("%s doctor: FAIL, exit %d: %s (first failed check: %s, %s%s)\n", program, first.ExitCode, first.Cause, first.Check,
		jobview.Printable(first.Subject), more)
}
