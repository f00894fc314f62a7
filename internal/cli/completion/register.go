package completion

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/producer"
)

// outputs are the values every --output flag takes (factory.CheckOutput).
// A command whose --output takes more registers its own completion for
// it, which Register keeps.
var outputs = []string{"text", "json"}

// Register gives the commands under root (its command tree, built) their
// completions: the arguments of the commands that take containers and
// scripts, job, batch or dead-letter ids or schedule names, no files for
// those that take no argument, and the values of their flags. A
// completion a command registered itself is kept.
func Register(root *cobra.Command, f *factory.Factory) {
	c := &completer{f: f}
	none := cobra.NoFileCompletions
	args := map[string]cobra.CompletionFunc{
		"run":                   c.runArgs,
		"wait":                  firstArg(c.jobIDs()),
		"status":                firstArg(c.jobIDs()),
		"logs":                  firstArg(c.jobIDs()),
		"cancel":                firstArg(c.jobIDs(producer.StateQueued, producer.StateRunning)),
		"dlq show":              c.deadLetters(false),
		"dlq replay":            c.deadLetters(true),
		"batch wait":            firstArg(c.batchIDs(false)),
		"batch status":          firstArg(c.batchIDs(false)),
		"batch logs":            firstArg(c.batchIDs(false)),
		"batch cancel":          firstArg(c.batchIDs(true)),
		"schedules pause":       firstArg(c.scheduleNames),
		"schedules resume":      firstArg(c.scheduleNames),
		"describe":              none,
		"up":                    none,
		"jobs":                  none,
		"dlq":                   none,
		"dlq list":              none,
		"dlq purge":             none,
		"batch":                 none,
		"batch run":             none,
		"batch list":            none,
		"schedules":             none,
		"config":                none,
		"completion":            none,
		"completion bash":       none,
		"completion zsh":        none,
		"completion fish":       none,
		"completion powershell": none,
		"":                      none,
		"config validate":       files,
		"config import-edr":     files,
	}
	states := make([]string, 0, len(producer.JobStates()))
	for _, s := range producer.JobStates() {
		states = append(states, string(s))
	}
	// Flags by command path ("*": any command) and name.
	type rule struct {
		path, flag string
		fn         cobra.CompletionFunc
	}
	rules := []rule{
		{"*", "config", files},
		{"*", "state-dir", dirs},
		{"*", "backend", fixed(factory.BackendEmbedded, factory.BackendAWS)},
		{"*", "output", fixed(outputs...)},
		{"*", "region", none},
		{"*", "aws-region", none},
		{"*", "prefix", none},
		{"jobs", "state", list(states...)},
		{"jobs", "container", c.containerNames},
		{"jobs", "lane", c.laneNames},
		{"jobs", "batch", c.batchIDs(false)},
		{"dlq replay", "container", c.containerNames},
		{"dlq replay", "script", c.scriptNames},
		{"dlq replay", "batch", c.batchIDs(false)},
		{"dlq list", "queue", fixed(string(client.RunDeadLetters), string(client.RequestDeadLetters))},
		{"dlq purge", "queue", fixed(string(client.RunDeadLetters), string(client.RequestDeadLetters))},
		{"batch run", "file", files},
	}
	done := map[*pflag.Flag]bool{}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root.Name()), " ")
		if fn, ok := args[path]; ok && cmd.ValidArgsFunction == nil && len(cmd.ValidArgs) == 0 {
			cmd.ValidArgsFunction = fn
		}
		cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if done[fl] {
				return
			}
			done[fl] = true
			if _, ok := cmd.GetFlagCompletionFunc(fl.Name); ok {
				return
			}
			// A command that prints a job's output (its --output declared
			// by factory.JobOutputFlag) takes the CI dialects too.
			if fl.Name == "output" && factory.PrintsJobs(cmd) {
				_ = cmd.RegisterFlagCompletionFunc(fl.Name, fixed(factory.JobOutputs...))
				return
			}
			i := slices.IndexFunc(rules, func(r rule) bool { return (r.path == path || r.path == "*") && r.flag == fl.Name })
			if i < 0 {
				return
			}
			_ = cmd.RegisterFlagCompletionFunc(fl.Name, rules[i].fn)
		})
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// files offers the shell's file names.
func files(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveDefault
}

// dirs offers the shell's directory names.
func dirs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}
