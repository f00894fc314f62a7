// Package completion implements "deployer completion bash|zsh|fish|
// powershell" (the shell scripts, with how to install them) and the
// dynamic completions the commands offer through cobra's "__complete":
// the containers and scripts "deployer describe" lists and the options
// each script allows (with the values of an option whose pattern admits
// only a few plain ones), recent job ids newest first, batch ids, dead
// letters, schedule names, and the values of flags such as --output.
//
// Guarantees:
//   - A completion changes nothing: it submits, cancels and replays
//     nothing, starts no server, opens the embedded state directory
//     read-only (one that does not exist offers nothing) and reads dead
//     letters only where they can be looked at without receiving them.
//     On AWS the containers come from the gatekeeper (one describe
//     request, as "deployer describe" sends), kept for a minute in the
//     user's cache directory so that completions do not ask on every
//     TAB. The cache is a hint for completions, never used for a decision.
//   - It returns within Timeout ($DEPLOYER_COMPLETION_TIMEOUT) whatever
//     the backend does, and writes nothing on stderr: a failure is just no
//     candidates.
//   - A script's arguments are the script's: Request marks them before
//     cobra reads the command line, so that a script option spelled like
//     one of deployer's flags ("--output") is completed as the script's.
//   - Every candidate and description is one printable line: a job's
//     description holds the caller's arguments, escaped (jobview.Printable)
//     and cut short.
package completion
