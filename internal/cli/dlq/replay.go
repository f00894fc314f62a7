package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/producer"
)

// lookFor is how long replay keeps looking for a dead letter it did not
// find: another command may be looking at (or replaying) it and have it
// hidden for a moment.
const lookFor = 2*scanVisibility + time.Second

// lookEvery is how often it looks again meanwhile.
const lookEvery = 200 * time.Millisecond

// ReplayOptions are the parsed command line of "deployer dlq replay".
type ReplayOptions struct {
	Factory *factory.Factory
	JobIDs  []string
	All     bool
	// Filter restricts --all to jobs of this container and/or script.
	Container string
	Script    string
	Wait      bool
	MaxWait   time.Duration
	Output    string
}

// NewCmdReplay builds "deployer dlq replay"; runF replaces the action in
// tests.
func NewCmdReplay(f *factory.Factory, runF func(context.Context, *ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{Factory: f}
	var filter string
	cmd := &cobra.Command{
		Use:   "replay JOB_ID... | --all [--filter container=X,script=Y] [--wait]",
		Short: "Resubmit dead-lettered jobs through the gatekeeper",
		Long: `Replay sends each job's original request through the request queue again:
the gatekeeper checks it under the current policy, as it would any request.
The new job's id is derived from the original ("<id>-r1"; a replay of
"<id>-r1" is "<id>-r2"), so replaying the same dead letter twice, even at
the same time, starts one task. The dead letter is deleted once the new
request is queued.

Without --wait it prints each new job id on stdout, one per line. With
--wait it follows the new jobs one after the other, as "deployer run"
would, and exits with the first non-zero exit code.

A dead letter whose request could not be read cannot be replayed.`,
		Example: `  deployer dlq replay 01J9Z8Y7X6W5V4T3S2R1Q0P9NM --wait
  deployer dlq replay --all --filter container=terraform-planner,script=plan`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.All && len(args) > 0:
				return factory.Usage(errors.New("give job ids or --all, not both"))
			case !opts.All && len(args) == 0:
				return factory.Usage(errors.New("replay needs job ids or --all"))
			case filter != "" && !opts.All:
				return factory.Usage(errors.New("--filter goes with --all"))
			}
			return checkJobIDs(args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobIDs = args
			if err := parseFilter(filter, opts); err != nil {
				return err
			}
			if err := factory.CheckOutput(opts.Output); err != nil {
				return err
			}
			if opts.MaxWait <= 0 {
				return factory.Usage(errors.New("--max-wait-time must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runReplay(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "replay every replayable dead letter (narrowed by --filter)")
	cmd.Flags().StringVar(&filter, "filter", "", "with --all: only jobs matching container=NAME and/or script=NAME, comma-separated")
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "follow the new jobs and exit with the first non-zero exit code")
	cmd.Flags().DurationVar(&opts.MaxWait, "max-wait-time", producer.DefaultMaxWait, "with --wait: how long to follow each job before giving up (exit 75)")
	cmd.Flags().StringVar(&opts.Output, "output", "text", "with --wait: text, or json for one job event per line")
	return cmd
}

func parseFilter(filter string, opts *ReplayOptions) error {
	if filter == "" {
		return nil
	}
	for _, kv := range strings.Split(filter, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return factory.Usage(fmt.Errorf("--filter: %q is not KEY=VALUE", kv))
		}
		switch k {
		case "container":
			opts.Container = v
		case "script":
			opts.Script = v
		default:
			return factory.Usage(fmt.Errorf("--filter: unknown key %q (container or script)", k))
		}
	}
	return nil
}

func (o *ReplayOptions) matches(g *group) bool {
	r := g.newest().dl.Request
	if r == nil {
		return o.Container == "" && o.Script == ""
	}
	return (o.Container == "" || r.Container == o.Container) && (o.Script == "" || r.Script == o.Script)
}

func runReplay(ctx context.Context, opts *ReplayOptions) error {
	f := opts.Factory
	b, err := f.Backend(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()

	// Following the new jobs needs a pipeline; when this process is to
	// serve it, a broken configuration fails before anything is replayed.
	var pol *policy.Policy
	if opts.Wait {
		served, err := b.Served()
		if err != nil {
			return err
		}
		if !served {
			if pol, err = f.Policy(); err != nil {
				return err
			}
		}
	}

	s := newScanner(b, "")
	defer func() { _ = release(ctx, s.letters) }()
	targets, already, err := selectTargets(ctx, b, s, opts)
	if err != nil {
		return err
	}

	// Hold the targets while their requests are resubmitted; hand back
	// everything else now.
	var held, others []*letter
	for _, l := range s.letters {
		if slices.ContainsFunc(targets, func(g *group) bool { return slices.Contains(g.letters, l) }) {
			held = append(held, l)
		} else {
			others = append(others, l)
		}
	}
	s.letters = held
	if err := release(ctx, others); err != nil {
		return err
	}
	if err := hold(ctx, held, holdVisibility); err != nil {
		return err
	}

	var failed []error
	if opts.All {
		for _, g := range groups(others) {
			if g.newest().dl.Request == nil && opts.matches(g) {
				failed = append(failed, unreplayable(g))
			}
		}
	}
	client := b.Client()
	var jobs []producer.Job
	jobs = append(jobs, already...)
	for _, g := range targets {
		l := g.newest()
		job, err := client.Resubmit(ctx, *l.dl.Request, opts.MaxWait)
		if err != nil {
			// Nothing was queued: the dead letter stays.
			if rerr := release(ctx, g.letters); rerr != nil {
				err = errors.Join(err, rerr)
			}
			failed = append(failed, fmt.Errorf("replaying job %s: %w", g.key, err))
			continue
		}
		jobs = append(jobs, job)
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: job %s replayed as %s: %s %s\n", g.key, job.ID, l.dl.Request.Container, l.dl.Request.Script)
		if err := remove(ctx, g.letters); err != nil {
			// The request is queued; replaying the letter again derives
			// the same job id and starts no second task.
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: warning: job %s is replayed as %s but its dead letter was not deleted: %v\n", g.key, job.ID, err)
		}
	}
	s.letters = nil
	if opts.All && len(jobs) == 0 && len(failed) == 0 {
		_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: no dead letters to replay")
	}

	if !opts.Wait {
		for _, j := range jobs {
			_, _ = fmt.Fprintln(f.IO.Out, j.ID)
		}
		return reportFailed(f, failed)
	}
	var first error
	for _, j := range jobs {
		p := jobview.New(f.IO.Out, f.IO.ErrOut)
		p.JSON = opts.Output == "json"
		err := jobview.Attach(ctx, f, b, pol, j, p, opts.MaxWait)
		if err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := reportFailed(f, failed); err != nil && first == nil {
		first = err
	}
	return first
}

// reportFailed prints every failure and returns an exit-1 error if there
// were any.
func reportFailed(f *factory.Factory, failed []error) error {
	if len(failed) == 0 {
		return nil
	}
	if len(failed) == 1 {
		return failed[0]
	}
	for _, err := range failed {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: %v\n", err)
	}
	return factory.Exit(1)
}

func unreplayable(g *group) error {
	l := g.newest()
	return fmt.Errorf("job %s cannot be replayed: its %s dead letter holds no readable request (%s: %s); it is left in place, see deployer dlq show %s",
		g.key, l.queue, l.dl.Failure.ReasonCode, oneLine(l.dl.Failure.Reason), g.key)
}

// selectTargets scans the dead-letter queues and picks the groups to
// replay. Jobs named on the command line that have no dead letter but
// whose replay exists already are returned as already-replayed jobs. A job
// named that has no dead letter, or one that cannot be replayed, fails the
// whole command before anything is replayed.
func selectTargets(ctx context.Context, b backend.Backend, s *scanner, opts *ReplayOptions) (targets []*group, already []producer.Job, err error) {
	if err := s.scan(ctx); err != nil {
		return nil, nil, err
	}
	if opts.All {
		for _, g := range groups(s.letters) {
			if g.newest().dl.Request != nil && opts.matches(g) {
				targets = append(targets, g)
			}
		}
		return targets, nil, nil
	}
	deadline := time.Now().Add(lookFor)
	for {
		targets, already = nil, nil
		var missing, alreadyOf []string
		var problems []error
		gs := groups(s.letters)
		for _, id := range opts.JobIDs {
			if g := find(gs, id); g != nil {
				if g.newest().dl.Request == nil {
					problems = append(problems, unreplayable(g))
				} else if !slices.Contains(targets, g) {
					targets = append(targets, g)
				}
				continue
			}
			next := producer.NextReplayID(id)
			ok, err := streamExists(ctx, b, next)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				already = append(already, producer.Job{ID: next, Stream: b.StreamAddress(next)})
				alreadyOf = append(alreadyOf, id)
				continue
			}
			missing = append(missing, id)
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			for _, id := range missing {
				problems = append(problems, fmt.Errorf("no dead letter for job %s (see deployer dlq list)", id))
			}
			if len(problems) > 0 {
				return nil, nil, reportFailed(opts.Factory, problems)
			}
			for i, j := range already {
				_, _ = fmt.Fprintf(opts.Factory.IO.ErrOut, "deployer: job %s has no dead letter: it was replayed as %s already\n", alreadyOf[i], j.ID)
			}
			return targets, already, nil
		}
		// Another command may have the letter hidden for a moment.
		if err := release(ctx, s.letters); err != nil {
			return nil, nil, err
		}
		s.letters = nil
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(lookEvery):
		}
		if err := s.scan(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// streamExists reports whether the job's stream exists: a replay creates
// it before it queues the request.
func streamExists(ctx context.Context, b backend.Backend, jobID string) (bool, error) {
	sub, err := b.Client().Streams.Subscribe(ctx, b.StreamAddress(jobID))
	if errors.Is(err, stream.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for job %s: %w", jobID, err)
	}
	_ = sub.Close()
	return true, nil
}
