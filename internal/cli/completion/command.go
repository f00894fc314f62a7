package completion

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/cli/factory"
)

// shell is one shell "deployer completion" writes a script for.
type shell struct {
	name string
	// install says how to load the script, with PROG for the program.
	install string
	// example is the line of the Examples section, with PROG.
	example string
	gen     func(root *cobra.Command, w io.Writer, descriptions bool) error
}

var shells = []shell{
	{
		name: "bash",
		install: `Bash needs the bash-completion package (2.x), which most Linux
distributions install with bash ("apt-get install bash-completion",
"dnf install bash-completion"; on macOS "brew install bash-completion@2"
and follow its caveats).

Load it in this shell:

  source <(PROG completion bash)

Load it in every new shell, for your user:

  mkdir -p ~/.local/share/bash-completion/completions
  PROG completion bash > ~/.local/share/bash-completion/completions/PROG

or for everyone: PROG completion bash > /etc/bash_completion.d/PROG`,
		example: `PROG completion bash > ~/.local/share/bash-completion/completions/PROG`,
		gen: func(root *cobra.Command, w io.Writer, desc bool) error {
			return root.GenBashCompletionV2(w, desc)
		},
	},
	{
		name: "zsh",
		install: `Completion must be enabled in zsh; if it is not, put this in ~/.zshrc:

  autoload -U compinit; compinit

Load it in this shell:

  source <(PROG completion zsh)

Load it in every new shell: write it as _PROG in a directory of $fpath
that comes before the system's, then start a new shell:

  mkdir -p ~/.zfunc
  PROG completion zsh > ~/.zfunc/_PROG
  # in ~/.zshrc, before compinit:  fpath=(~/.zfunc $fpath)

With oh-my-zsh, ~/.oh-my-zsh/completions/_PROG works as it is.`,
		example: `PROG completion zsh > ~/.zfunc/_PROG`,
		gen: func(root *cobra.Command, w io.Writer, desc bool) error {
			if desc {
				return root.GenZshCompletion(w)
			}
			return root.GenZshCompletionNoDesc(w)
		},
	},
	{
		name: "fish",
		install: `Load it in this shell:

  PROG completion fish | source

Load it in every new shell:

  PROG completion fish > ~/.config/fish/completions/PROG.fish`,
		example: `PROG completion fish > ~/.config/fish/completions/PROG.fish`,
		gen: func(root *cobra.Command, w io.Writer, desc bool) error {
			return root.GenFishCompletion(w, desc)
		},
	},
	{
		name: "powershell",
		install: `Load it in this shell:

  PROG completion powershell | Out-String | Invoke-Expression

Load it in every new shell: add that line to your profile ($PROFILE).`,
		example: `PROG completion powershell | Out-String | Invoke-Expression`,
		gen: func(root *cobra.Command, w io.Writer, desc bool) error {
			if desc {
				return root.GenPowerShellCompletionWithDesc(w)
			}
			return root.GenPowerShellCompletion(w)
		},
	},
}

// NewCmdCompletion builds "completion" and its one subcommand per shell,
// which write the shell's completion script for the root command on
// f's standard output. It replaces cobra's default command, with
// deployer's install instructions.
func NewCmdCompletion(f *factory.Factory) *cobra.Command {
	prog := f.ProgramName()
	with := func(s string) string { return strings.ReplaceAll(s, "PROG", prog) }
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Write the shell completion script for bash, zsh, fish or PowerShell",
		Long: with(`Completion writes the script that teaches a shell to complete PROG's command
lines: commands and flags, the containers and scripts you may run (what
"PROG describe" lists) and each script's options, with the values of an
option whose pattern allows only a few; recent job ids (newest first, with
their container, script and state), batch ids, dead-lettered jobs and
schedule names.

Completing changes nothing and asks the backend briefly (2s at most;
$DEPLOYER_COMPLETION_TIMEOUT sets another bound, up to 30s): what you may
run is kept for a minute in your cache directory (deployer/ under
$XDG_CACHE_HOME or ~/.cache), so that TAB does not ask the gatekeeper every
time on AWS.

Run "PROG completion SHELL --help" for how to install each one; see
docs/completions.md.`),
		Example: with(`  source <(PROG completion bash)
  PROG completion zsh > ~/.zfunc/_PROG
  PROG completion fish | source`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return factory.Usage(fmt.Errorf("completion needs a shell: bash, zsh, fish or powershell (%s completion SHELL)", prog))
		},
	}
	for _, sh := range shells {
		var noDesc bool
		sub := &cobra.Command{
			Use:     sh.name,
			Short:   fmt.Sprintf("Write the completion script for %s", sh.name),
			Long:    with(fmt.Sprintf("Write the completion script for %s on standard output.\n\n%s", sh.name, sh.install)),
			Example: with("  " + sh.example),
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return sh.gen(cmd.Root(), f.IO.Out, !noDesc)
			},
		}
		sub.Flags().BoolVar(&noDesc, "no-descriptions", false, "leave out the descriptions of candidates")
		cmd.AddCommand(sub)
	}
	return cmd
}
