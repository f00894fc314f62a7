package completion

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// scriptWord marks a word of a script's arguments in a completion
// request that Request rewrote: cobra reads no flag of its own in it. A
// NUL byte, which no argument of a real command line holds.
const scriptWord = "\x00"

// Requested reports whether the command line args (without the program
// name) is a completion request, which the shell scripts send as
// "__complete WORDS... WORD" (or "__completeNoDesc ...").
func Requested(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// Request rewrites a completion request ("__complete WORDS... WORD", as
// the shell scripts send it) of a run command line before cobra reads
// it, and returns any other command line as it is:
//
//   - The run-less form, "deployer [flags] -- CONTAINER SCRIPT [ARGS...]",
//     becomes "deployer run [flags] -- ...", which is what it means: cobra
//     would otherwise offer the root's subcommands after "--".
//   - The script's arguments (the words after CONTAINER SCRIPT, and the
//     word being completed there) that start with '-' are marked
//     (scriptWord), so that cobra does not read "--output" or
//     "--config=..." given to the script as deployer's own flag and
//     drop it from what runArgs sees.
func Request(root *cobra.Command, args []string) []string {
	if len(args) < 2 || !Requested(args) {
		return args
	}
	run, _, err := root.Find([]string{"run"})
	if err != nil || run == root {
		return args
	}
	words := args[1:] // the last is the word being completed
	runLess := false
	i, ok := skipFlags(root, words, 0)
	switch {
	case !ok || i >= len(words)-1:
		return args
	case words[i] == "--":
		runLess = true
		i++
	case words[i] == "run":
		if i, ok = skipFlags(run, words, i+1); !ok || i >= len(words)-1 {
			return args
		}
		if words[i] == "--" {
			i++
		}
	default:
		return args // another command
	}
	out := append([]string{args[0]}, words[:i]...)
	if runLess {
		out = append([]string{args[0], "run"}, words[:i]...)
	}
	// words[i] is CONTAINER, words[i+1] SCRIPT.
	for j, w := range words[i:] {
		if j >= 2 && strings.HasPrefix(w, "-") {
			w = scriptWord + w
		}
		out = append(out, w)
	}
	return out
}

// skipFlags returns the index of the first word of words from i on that
// is not one of cmd's flags (or their values): "--", a command or an
// argument. ok is false when a flag's value is the word being completed
// (the last).
func skipFlags(cmd *cobra.Command, words []string, i int) (int, bool) {
	for ; i < len(words)-1; i++ {
		w := words[i]
		switch {
		case w == "--" || !strings.HasPrefix(w, "-") || w == "-":
			return i, true
		case strings.Contains(w, "="):
		case strings.HasPrefix(w, "--"):
			if fl := lookup(cmd, w[2:]); fl != nil && fl.NoOptDefVal == "" {
				i++ // its value
			}
		case len(w) == 2:
			if fl := shorthand(cmd, w[1:]); fl != nil && fl.NoOptDefVal == "" {
				i++
			}
		}
	}
	return i, i < len(words)
}

// unmark removes Request's marks from a script's arguments.
func unmark(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.TrimPrefix(w, scriptWord)
	}
	return out
}

// lookup finds a flag of cmd: its own, or one it inherits.
func lookup(cmd *cobra.Command, name string) *pflag.Flag {
	if fl := cmd.Flags().Lookup(name); fl != nil {
		return fl
	}
	if fl := cmd.PersistentFlags().Lookup(name); fl != nil {
		return fl
	}
	return cmd.InheritedFlags().Lookup(name)
}

func shorthand(cmd *cobra.Command, name string) *pflag.Flag {
	if fl := cmd.Flags().ShorthandLookup(name); fl != nil {
		return fl
	}
	if fl := cmd.PersistentFlags().ShorthandLookup(name); fl != nil {
		return fl
	}
	return cmd.InheritedFlags().ShorthandLookup(name)
}
