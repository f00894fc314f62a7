package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

// exampleCommand returns the command line of one line of an Examples
// section, without the shell around it: "source <(CMD)" and "CMD | ..."
// or "CMD > FILE" are CMD.
func exampleCommand(t *testing.T, line string) []string {
	t.Helper()
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "source <("); ok {
		line = strings.TrimSuffix(rest, ")")
	}
	words, err := policy.SplitWords(line)
	if err != nil {
		t.Fatalf("example %q: %v", line, err)
	}
	for i, w := range words {
		if w == "|" || w == ">" || strings.HasPrefix(w, ">") {
			return words[:i]
		}
	}
	return words
}

// Every command a user can see shows examples in its --help, and each
// example is a command line that parses: its command path exists, every
// flag it gives exists with a value of the right kind, and its
// arguments pass the command's argument checks.
func TestEveryCommandHasExamplesThatParse(t *testing.T) {
	for _, mode := range []Mode{Deployer, InfrastructureDeployer} {
		f, _, _ := newFactory(t)
		root := newCmdRoot(f, mode, seams{})
		var walk func(c *cobra.Command)
		walk = func(c *cobra.Command) {
			if c.Hidden {
				return
			}
			if mode == Deployer && strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no Example in its --help", c.CommandPath())
			}
			for _, line := range strings.Split(c.Example, "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				if !strings.HasPrefix(line, "  ") {
					t.Errorf("%q: example %q is not indented by two spaces, as cobra's help expects", c.CommandPath(), line)
				}
				words := exampleCommand(t, line)
				if len(words) == 0 || words[0] != root.Name() {
					// deployer's own examples in the
					// infrastructure-deployer binary: checked as
					// deployer's.
					if mode == Deployer || len(words) == 0 || words[0] != "deployer" {
						t.Errorf("%q: example %q does not start with %s", c.CommandPath(), line, root.Name())
					}
					continue
				}
				checkExample(t, mode, c, words[1:], line)
			}
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(root)
	}
}

// checkExample parses args as mode's command line on a fresh command tree
// and fails unless it reaches cmd (or one of its subcommands) and passes
// its flag and argument checks.
func checkExample(t *testing.T, mode Mode, cmd *cobra.Command, args []string, line string) {
	t.Helper()
	f, _, _ := newFactory(t)
	root := newCmdRoot(f, mode, seams{})
	c, rest, err := root.Find(args)
	if err != nil {
		t.Errorf("%q: example %q: no such command: %v", cmd.CommandPath(), line, err)
		return
	}
	if c.CommandPath() != cmd.CommandPath() && !strings.HasPrefix(c.CommandPath(), cmd.CommandPath()+" ") {
		t.Errorf("%q: example %q runs %q", cmd.CommandPath(), line, c.CommandPath())
		return
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Errorf("%q: example %q: %v", cmd.CommandPath(), line, err)
		return
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		t.Errorf("%q: example %q: %v", cmd.CommandPath(), line, err)
	}
	if err := c.ValidateRequiredFlags(); err != nil {
		t.Errorf("%q: example %q: %v", cmd.CommandPath(), line, err)
	}
}
