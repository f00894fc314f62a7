// Package local is the embedded backend's runner (the runner port's
// adapter for "processes on this host"). Each task is an allow-listed
// script run by a supervisor process of its own: the runner starts a
// binary (deployer-supervisor, or deployer's hidden "__supervise" command:
// see Options.Supervisor) detached in a new session, and that supervisor runs
// the script, records its output and its end in the state database, and
// exits. A task therefore outlives the worker that started it, as an ECS
// task outlives its caller, and a restarted worker adopts it with Find
// and Inspect. A serving process keeps a spare supervisor started ahead
// of the next task (Runner.KeepSpare), and takes it back once it has
// recorded its task's end, for the task after: one supervisor at a time
// per task still, without a process start and a database opening for
// each.
//
// # Guarantees
//
//   - One run per job and attempt. The task row is unique on (job_id,
//     attempt) and is inserted in one transaction with the check for an
//     existing one; a supervisor must claim the row (pending → running)
//     before it runs anything, so a second supervisor for the same task
//     exits without running anything. A task recorded but never claimed
//     (its starter died before spawning the supervisor) is spawned again
//     by the next Start for the same job and attempt.
//   - Refused before recorded. A spec that can never run (script not a
//     plain file name, missing, a link out of the scripts directory, not
//     a regular file or not executable; a relative scripts directory; a
//     bad variable name or secret reference) is refused by Start with
//     runner.ErrInvalidSpec.
//   - One way to run a script. The supervisor runs the task entrypoint's
//     code (package task, the body of deployer-task, the entrypoint of
//     every ECS task image) in-process: it runs ScriptsDir/Script (a
//     plain file name, never a link out of the directory) directly with
//     Argv as given; no shell ever interprets an argument. The same code
//     runs as a process of its own as this binary's hidden TaskCommand.
//   - Canaries. A spec with Canary runs the entrypoint's version probe
//     (as "deployer-task --version" in an ECS task) instead of a script;
//     a scripts directory that is gone fails its Start with
//     runner.ErrMissingDefinition, as a missing task definition does on
//     ECS.
//   - A fresh, private working directory and a minimal environment:
//     PATH (Options.Path), HOME (WorkDir/home, also the working
//     directory), TMPDIR (WorkDir/tmp), the spec's Env,
//     DEPLOYER_JOB_ID, DEPLOYER_ATTEMPT, and the spec's Secrets, which the
//     entrypoint resolves with the Secrets given to Supervise (package
//     secretproc's Resolver in deployer-supervisor and deployer: env:NAME
//     reads the supervisor's environment, file:/path; Secrets Manager and
//     SSM references are read by deployer-aws beside the binary, in a
//     helper process).
//     Nothing else of the worker's environment reaches the script. Secret
//     values are never stored or logged; a reference that cannot be
//     resolved fails the task with runner.StopFailedToStart, the reason
//     naming the variable and the reference, and the task's one line of
//     output saying why.
//   - Output in order and complete. The entrypoint's code frames the
//     script's output (stdout and stderr one pipe, so lines keep their
//     order) as task records with a dense 1-based seq and a last end
//     record; the supervisor takes them as they are (no JSON between
//     them), joins the parts of long lines and appends the lines and the
//     end record to the task log (sqlitelog) in batches: at most
//     FlushLines lines or FlushBytes of text, flushed as soon as the
//     script has written nothing more for now (with whatever it wrote
//     meanwhile), and at the latest after FlushInterval. The exit status
//     is recorded in the commit that stores the end record (with the
//     last lines before it), so Task.LogEvents of a stopped task is
//     exactly the number of lines in the task log.
//   - Stops reach everything. The script runs in its own process group.
//     Stop has the supervisor pass SIGTERM to the entrypoint's code, which
//     sends it to the group and SIGKILL after Options.Grace; when the
//     script exits, whatever it left running in its group is killed.
//   - A supervisor taken back starts afresh. Its next task gets a work
//     directory of its own, with fresh home/ and tmp/, and its
//     diagnostics go to that directory's supervisor.log; signals that
//     came for the last task are dropped. It runs at most
//     TasksPerSupervisor tasks, and none after a task with secrets
//     (their values stay in no process that runs another task), nor
//     after one it could not record as it should: it exits then, and
//     the runner starts another spare. Its socket to the runner is not
//     the script's (the script's stdin is /dev/null); when the runner's
//     process ends, however it ends, the supervisor finishes its task and
//     exits.
//   - Lost tasks are noticed. A supervisor heartbeats every
//     Options.Heartbeat; a running task whose supervisor missed 5
//     heartbeats and whose process is gone (pid reuse is detected through
//     the process start time) is reported, and recorded, as stopped with
//     runner.StopLost.
//
// # State
//
// The table local_tasks of the state database holds one row per task
// (id "lt-<job id>-<attempt>"). The task's lines are in sqlitelog's
// task_log table. Each task has a directory, WorkDir(stateDir, id),
// holding supervisor.log, home/ and tmp/; it is kept after the task ends,
// for debugging, until Prune removes it (the rows stay). A spare
// supervisor makes its task's directory while it waits, as
// work/spare-<pid>-<start time>, and renames it when the task comes; one
// that exits without a task removes it, and Prune removes those of
// spares that were killed.
//
// # Limits
//
// A script that moves a child into another process group or session
// escapes the group kill; its output is abandoned one second after the
// script's group is gone. If a supervisor is killed, its script is not:
// the task is reported lost and the script dies of SIGPIPE on its next
// write. Supervisors and the processes inspecting their tasks must share
// a pid namespace.
package local
