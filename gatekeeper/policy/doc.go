// Package policy is the gatekeeper's security boundary: it loads the
// allow-list configuration and resolves job requests into run orders, or
// refuses them with a one-line reason and a reason code.
//
// # Guarantees
//
//   - Deny by default. A container or script not listed is refused; so is a
//     caller not listed (when the container or script lists callers), an
//     option the script does not allow, a restricted option in any spelling,
//     a value-taking option without a value, a positional argument where
//     none is allowed, and anything else the rules below do not admit.
//     Nothing is guessed.
//   - The caller is the verified schemas.Identity passed to Resolve, never a
//     field of the request.
//   - An accepted argv is: the hardcoded options (sorted by option, each
//     value as its own "--opt value" pair), then the caller's arguments in
//     the caller's spelling, then the hardcoded args. Callers can neither
//     pass nor repeat a hardcoded option.
//   - Secrets travel as references. Nothing in this package logs, and no
//     rejection message contains, a secret value.
//   - A Policy is immutable after Load/Parse and safe for concurrent use.
//     Every regular expression and pattern is compiled at load, so Resolve
//     does no parsing of the configuration.
//
// # Arguments
//
// The caller's arguments are an array of strings, or one legacy string
// split with POSIX shell-word rules (SplitWords); an unterminated quote is a
// rejection (malformed_args). At most MaxArgs arguments of at most
// MaxArgBytes bytes each are accepted. An argument containing a control
// character other than tab, or that is not valid UTF-8, is refused
// (invalid_argument).
//
// Each argument is exactly one of:
//
//   - "--": ends the options; what follows is positional (allowed only with
//     allow_positional_args). Even there, an argument that names a
//     restricted or hardcoded option is refused.
//   - "-": a positional argument (the usual "standard input").
//   - an option: one or two ASCII dashes, then a name of ASCII letters,
//     digits, '.', '_' and '-' that starts with a letter or digit, then
//     optionally "=value". Single-dash names are whole options
//     (terraform's "-target=x"), never bundles of short flags.
//   - anything else that starts with a dash or a dash look-alike (U+2010 to
//     U+2015, U+2212, fullwidth and small hyphen-minus, ...), also after
//     leading spaces or invisible characters, or with three dashes: refused
//     as malformed_option.
//   - a positional argument.
//
// Options are identified by their name without leading dashes, compared
// case-insensitively and with '_' read as '-', so "-destroy", "--destroy"
// and "--Destroy" are one option for restricted and hardcoded options and
// for repeats. An allowed option must be spelled exactly as configured.
// Where any option may be passed (allowed_options null, or after "--"), an
// abbreviation of a restricted or hardcoded option ("--dest" for
// "--destroy") is refused too, because getopt_long and argparse expand
// unique prefixes. A value-taking option takes
// its value after '=' or from the next argument; the next argument must not
// itself look like an option (write "--opt=-1" for a value starting with a
// dash).
package policy
