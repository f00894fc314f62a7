package completion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobs"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Limits of what is listed.
const (
	maxJobs    = 50
	maxBatches = 20
	// maxDesc bounds a description, in characters.
	maxDesc = 72
)

// noFiles is the directive of every dynamic completion: what is not
// offered is not a file either.
const noFiles = cobra.ShellCompDirectiveNoFileComp

// completer holds the factory whose global flags the command line being
// completed has set.
type completer struct {
	f *factory.Factory
}

// oneLine makes s a description every shell shows as one harmless line:
// control and format characters escaped (jobview.Printable: tabs,
// newlines, escapes, bidirectional overrides), cut to maxDesc
// characters.
func oneLine(s string) string {
	s = jobview.Printable(s)
	if utf8.RuneCountInString(s) <= maxDesc {
		return s
	}
	r := []rune(s)
	return string(r[:maxDesc-1]) + "…"
}

// withPrefix keeps the candidates that start with toComplete.
func withPrefix(cands []cobra.Completion, toComplete string) []cobra.Completion {
	out := cands[:0]
	for _, c := range cands {
		name, _, _ := strings.Cut(c, "\t")
		if strings.HasPrefix(name, toComplete) {
			out = append(out, c)
		}
	}
	return out
}

// describe returns what the caller may run (see containers), or nothing
// once Timeout is up.
func (c *completer) describe(cmd *cobra.Command) []schemas.ContainerInfo {
	infos, err := bounded(cmd, c.limit(), c.containers)
	if errors.Is(err, errTimedOut) {
		c.rememberFailure()
	}
	return infos
}

func findContainer(infos []schemas.ContainerInfo, name string) *schemas.ContainerInfo {
	for i := range infos {
		if infos[i].Name == name {
			return &infos[i]
		}
	}
	return nil
}

func findScript(c *schemas.ContainerInfo, name string) *schemas.ScriptInfo {
	if c == nil {
		return nil
	}
	for i := range c.Scripts {
		if c.Scripts[i].Name == name {
			return &c.Scripts[i]
		}
	}
	return nil
}

func containerCandidates(infos []schemas.ContainerInfo) []cobra.Completion {
	var out []cobra.Completion
	for _, ci := range infos {
		if !schemas.ValidName(ci.Name) {
			continue
		}
		desc := ci.Description
		if desc == "" {
			names := make([]string, 0, len(ci.Scripts))
			for _, s := range ci.Scripts {
				names = append(names, s.Name)
			}
			desc = "scripts: " + strings.Join(names, ", ")
		}
		out = append(out, cobra.CompletionWithDesc(ci.Name, oneLine(desc)))
	}
	return out
}

func scriptCandidates(ci *schemas.ContainerInfo) []cobra.Completion {
	if ci == nil {
		return nil
	}
	var out []cobra.Completion
	for _, s := range ci.Scripts {
		if !schemas.ValidName(s.Name) {
			continue
		}
		var desc string
		switch {
		case s.AnyOption:
			desc = "options: any not restricted"
		case len(s.AllowedOptions) == 0 && len(s.AllowedOptionsWithoutArgs) == 0:
			desc = "options: none"
		default:
			opts := append(slices.Clone(s.AllowedOptions), s.AllowedOptionsWithoutArgs...)
			slices.Sort(opts)
			desc = "options: " + strings.Join(slices.Compact(opts), " ")
		}
		if s.AllowPositionalArgs {
			desc += "; positional arguments"
		}
		out = append(out, cobra.CompletionWithDesc(s.Name, oneLine(desc)))
	}
	return out
}

// runArgs completes "run [flags] [--] CONTAINER SCRIPT [ARGS...]": the
// containers, then the container's scripts, then the script's options
// and their values (argCandidates).
func (c *completer) runArgs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	infos := c.describe(cmd)
	switch len(args) {
	case 0:
		return withPrefix(containerCandidates(infos), toComplete), noFiles
	case 1:
		return withPrefix(scriptCandidates(findContainer(infos, args[0])), toComplete), noFiles
	}
	s := findScript(findContainer(infos, args[0]), args[1])
	if s == nil {
		return nil, noFiles
	}
	return argCandidates(*s, unmark(args[2:]), strings.TrimPrefix(toComplete, scriptWord)), noFiles
}

// containerNames completes a flag that names a container.
func (c *completer) containerNames(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return withPrefix(containerCandidates(c.describe(cmd)), toComplete), noFiles
}

// scriptNames completes a flag that names a script: of the container
// --container names, else of every container.
func (c *completer) scriptNames(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	infos := c.describe(cmd)
	if fl := cmd.Flags().Lookup("container"); fl != nil && fl.Value.String() != "" {
		return withPrefix(scriptCandidates(findContainer(infos, fl.Value.String())), toComplete), noFiles
	}
	seen := map[string][]string{}
	for _, ci := range infos {
		for _, s := range ci.Scripts {
			if schemas.ValidName(s.Name) && schemas.ValidName(ci.Name) {
				seen[s.Name] = append(seen[s.Name], ci.Name)
			}
		}
	}
	var out []cobra.Completion
	for _, name := range sortedKeys(seen) {
		out = append(out, cobra.CompletionWithDesc(name, oneLine("of "+strings.Join(seen[name], ", "))))
	}
	return withPrefix(out, toComplete), noFiles
}

// laneNames completes --lane with the lanes of the containers the caller
// may run.
func (c *completer) laneNames(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	lanes := map[string][]string{}
	limit := map[string]int{}
	for _, ci := range c.describe(cmd) {
		if schemas.ValidName(ci.Lane) && schemas.ValidName(ci.Name) {
			lanes[ci.Lane] = append(lanes[ci.Lane], ci.Name)
			limit[ci.Lane] = ci.LaneLimit
		}
	}
	var out []cobra.Completion
	for _, l := range sortedKeys(lanes) {
		out = append(out, cobra.CompletionWithDesc(l, oneLine(fmt.Sprintf("%d at once: %s", limit[l], strings.Join(lanes[l], ", ")))))
	}
	return withPrefix(out, toComplete), noFiles
}

// jobIDs completes a job id with the journal's most recent jobs, newest first (the order "deployer jobs" lists them in), in the
// given states (all when none), each described by its container, script
// and arguments, state and age.
func (c *completer) jobIDs(states ...producer.JobState) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		sums, _ := bounded(cmd, c.limit(), func(ctx context.Context) ([]producer.JobSummary, error) {
			cl, err := c.f.LookClient(ctx)
			if err != nil {
				return nil, err
			}
			defer func() { _ = cl.Close() }()
			return cl.Jobs(ctx, client.JobFilter{States: states, Limit: maxJobs})
		})
		now := clock()
		var out []cobra.Completion
		for _, s := range sums {
			if !schemas.ValidJobID(s.JobID) || !strings.HasPrefix(s.JobID, toComplete) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(s.JobID, oneLine(jobDesc(s, jobs.Age(now, s.Submitted)))))
		}
		return out, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// jobDesc describes a job: "demo plan --ref main · running · 3m".
func jobDesc(s producer.JobSummary, age string) string {
	var parts []string
	if s.Container != "" {
		what := jobview.Printable(s.Container)
		if s.Script != "" {
			what += " " + jobview.Command(s.Script, s.Argv)
		}
		parts = append(parts, what)
	}
	parts = append(parts, string(s.State))
	if age != "-" {
		parts = append(parts, age+" ago")
	}
	return strings.Join(parts, " · ")
}

// batchIDs completes a batch id (a BATCH_ID argument, a --batch flag)
// with the most recent batches, newest first; with unended, only batches that
// have not ended (batch cancel).
func (c *completer) batchIDs(unended bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		batches, _ := bounded(cmd, c.limit(), func(ctx context.Context) ([]producer.Batch, error) {
			cl, err := c.f.LookClient(ctx)
			if err != nil {
				return nil, err
			}
			defer func() { _ = cl.Close() }()
			return cl.Batches(ctx, maxBatches)
		})
		now := clock()
		var out []cobra.Completion
		for _, bt := range batches {
			if !schemas.ValidBatchID(bt.ID) || !strings.HasPrefix(bt.ID, toComplete) || unended && bt.Ended() {
				continue
			}
			state := "running"
			if bt.Ended() {
				state = fmt.Sprintf("ended, exit %d", bt.ExitCode())
			}
			desc := fmt.Sprintf("%d jobs · %s · %s ago", len(bt.Jobs), state, jobs.Age(now, bt.Since))
			if bt.Name != "" {
				desc = jobview.Printable(bt.Name) + " · " + desc
			}
			out = append(out, cobra.CompletionWithDesc(bt.ID, oneLine(desc)))
		}
		return out, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// deadLetters completes the job ids of dead letters: one (dlq show) or
// any number, each once (dlq replay). It only looks where a look changes
// nothing (the embedded backend's queues); on AWS it offers nothing, as
// receiving would hide the letters from a replay under way.
func (c *completer) deadLetters(many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, noFiles
		}
		letters, _ := bounded(cmd, c.limit(), func(ctx context.Context) ([]client.DeadLetter, error) {
			cl, err := c.f.LookClient(ctx)
			if err != nil {
				return nil, err
			}
			defer func() { _ = cl.Close() }()
			// Only where a look receives nothing (client.ErrWouldReceive
			// on SQS).
			return cl.DeadLetters(ctx, client.DeadLetterOptions{NoReceive: true})
		})
		now := clock()
		var out []cobra.Completion
		for _, d := range letters {
			if !schemas.ValidJobID(d.JobID) || slices.Contains(args, d.JobID) || !strings.HasPrefix(d.JobID, toComplete) {
				continue
			}
			var parts []string
			if r := d.Letter.Request; r != nil {
				parts = append(parts, jobview.Printable(r.Container)+" "+jobview.Command(r.Script, r.Args.Words))
			}
			why := string(d.Letter.Failure.Outcome)
			if d.Letter.Failure.ReasonCode != "" {
				why += " (" + d.Letter.Failure.ReasonCode + ")"
			}
			parts = append(parts, strings.TrimSpace(why), jobs.Age(now, d.FailedAt)+" ago")
			out = append(out, cobra.CompletionWithDesc(d.JobID, oneLine(strings.Join(parts, " · "))))
		}
		return out, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// scheduleNames completes a schedule name with the configuration's
// schedules.
func (c *completer) scheduleNames(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	scheds, _ := bounded(cmd, c.limit(), func(context.Context) (map[string]schemas.Schedule, error) {
		pol, err := c.f.Policy()
		if err != nil {
			return nil, err
		}
		return pol.Config().Schedules, nil
	})
	var out []cobra.Completion
	for _, name := range sortedKeys(scheds) {
		s := scheds[name]
		if !schemas.ValidName(name) || !strings.HasPrefix(name, toComplete) {
			continue
		}
		out = append(out, cobra.CompletionWithDesc(name, oneLine(fmt.Sprintf("%s %s · %s", s.Container, s.Script, s.Cron))))
	}
	return out, noFiles
}

// firstArg completes the first positional argument with fn, and offers
// nothing after it (commands that take one argument).
func firstArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		return fn(cmd, args, toComplete)
	}
}

// fixed completes a flag with a fixed list of values.
func fixed(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return withPrefix(slices.Clone(values), toComplete), noFiles
	}
}

// list completes a comma-separated list flag ("queued,ru") with values
// not listed yet.
func list(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		i := strings.LastIndex(toComplete, ",")
		head, last := toComplete[:i+1], toComplete[i+1:]
		given := strings.Split(head, ",")
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(v, last) && !slices.Contains(given, v) {
				out = append(out, head+v)
			}
		}
		sort.Strings(out)
		return out, noFiles
	}
}
