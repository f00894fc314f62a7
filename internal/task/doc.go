// Package task is what runs inside every task: the body of deployer-task,
// the entrypoint of every task image ("deployer-task SCRIPT ARGS..."), and
// of the local runner's tasks (the deployer binary's hidden "__task"
// command), so that both backends run a script one way.
//
// # Guarantees
//
//   - Only an allow-listed script runs: an executable regular file named
//     SCRIPT directly inside the scripts directory ($DEPLOYER_SCRIPTS_DIR).
//     A name with '/', "..", a symlink that leads out of the directory, or
//     a missing or non-executable file is refused before anything runs.
//   - Secrets reach the script only. Each DEPLOYER_SECRET_<NAME>=<reference>
//     of the environment becomes NAME=<value> in the script's environment
//     (Options.Secrets, which the caller passes, so that this package
//     links no AWS SDK client: deployer-task a secret.Resolver with
//     awssecret's Fetcher, the local supervisors a secretproc.Resolver,
//     which has deployer-aws read Secrets Manager and SSM); no value is
//     ever written to the log or to an error. A reference that cannot be
//     resolved fails the task before the script starts.
//   - Framed output. The script's stdout and stderr are one pipe, so lines
//     keep the order they were written in. Each line becomes one
//     schemas.TaskRecord on stdout, with the job id, the attempt and a
//     dense 1-based sequence number; a line whose record would exceed
//     schemas.MaxRecordBytes (the awslogs driver splits lines at 16 KiB)
//     is split into numbered parts. A last record closes the log with the
//     line count and the exit code. deployer-task's own messages (why the
//     script could not start, that it was stopped) are lines of the same
//     log, so whoever follows the job reads them.
//   - Stops reach the whole script. The script runs in its own process
//     group; SIGTERM or SIGINT to deployer-task is forwarded to the group,
//     and SIGKILL follows after the grace period ($DEPLOYER_STOP_GRACE,
//     which must stay below the ECS stopTimeout so the end record is
//     written). When the script exits, whatever it left running in its
//     group is killed.
//   - Exit status. deployer-task exits with the script's exit code (128+n
//     when signal n killed it), or with ExitCouldNotStart when the script
//     never started.
//
// # Limits
//
// A process that the script moves into another process group escapes the
// group kill; its output is abandoned one second after the script's group
// is gone. Text that is not valid UTF-8 reaches readers with U+FFFD in
// place of the invalid bytes (JSON carries text as UTF-8).
package task
