// Package ecsrunner is the runner port's adapter for Amazon ECS: a job's
// attempt runs as one ECS task started with RunTask from the spec's task
// definition, tracked with DescribeTasks and stopped with StopTask.
//
// # Guarantees
//
//   - One task per job and attempt. Start first looks the task up (Find:
//     ListTasks by startedBy = job id, desired status RUNNING then
//     STOPPED, DescribeTasks, the attempt matched); only when there is none
//     does it call RunTask, with a clientToken derived from the job id and
//     attempt alone (ClientToken), so a RunTask whose answer was lost and
//     is sent again — by the SDK's retryer or by another Start, from this
//     worker or another, while ECS keeps the token (24 hours) — returns
//     the task already started instead of starting a second. Requests are
//     built deterministically (environment and tags sorted) so that a
//     repeated RunTask carries the same parameters, as ECS requires.
//   - Refused before started. A spec that can never run (no task
//     definition or script, a job id ECS cannot carry in startedBy, a bad
//     variable name, a plain secret value instead of a reference, more
//     tags than ECS allows, overrides over ECS's 8192 characters) is
//     refused with runner.ErrInvalidSpec without calling ECS; ECS's own
//     refusals of the task definition (ClientException "Unable to find
//     task definition", InvalidParameterException, an unknown platform)
//     are runner.ErrInvalidSpec too.
//   - Errors named. RunTask placement failures (RESOURCE:*, AGENT,
//     capacity providers) are runner.ErrCapacity;
//     throttling that outlasted the SDK's retries is runner.ErrThrottled;
//     a StopTask of a task ECS does not know is runner.ErrNotFound.
//   - Secrets stay references. ECS container overrides cannot carry
//     "secrets", so each secret reference travels as the variable
//     DEPLOYER_SECRET_<NAME>=<reference> and deployer-task, the
//     entrypoint of every task image, resolves it; no value ever passes
//     through the runner. deployer-task exits 125 when the script could
//     not start (refused, a secret not resolved): such a task is
//     runner.StopFailedToStart, its log saying why.
//   - The task knows who it is: DEPLOYER_JOB_ID and DEPLOYER_ATTEMPT are
//     set in its environment, as the local runner sets them.
//
// # Identity and tags
//
// Task.ID is the ECS task id (the last segment of the task ARN); Inspect,
// Stop and the ECS console all take it. Tasks are tagged deployer:job_id
// and deployer:attempt plus the spec's Tags, with ECS managed tags
// (aws:ecs:clusterName, ...) enabled; task definition tags are not
// propagated, so the 50-tag limit is checked here and a task definition
// cannot shadow a deployer:* tag. StopTask deletes a task's tags, so the
// attempt of a stopped task is read from its overrides'
// DEPLOYER_ATTEMPT when the tag is gone, and its job id from startedBy.
//
// # Limits
//
// ECS keeps a stopped task visible for about an hour: later, Find reports
// runner.ErrNotFound and Inspect leaves the task out. A Start for the same
// job and attempt after that but within the clientToken's 24 hours gets
// ECS's original answer back (a pending task ECS no longer describes)
// rather than a second run. Task.LogEvents is always -1: ECS cannot count
// a task's lines (the task log source can).
package ecsrunner
