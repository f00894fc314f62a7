// Package ecsfake is an in-memory, HTTP-level fake of the Amazon ECS API
// (awsJson1_1, X-Amz-Target prefix AmazonEC2ContainerServiceV20141113)
// served by an awsfake.Server, so the ECS runner's tests run the real
// aws-sdk-go-v2 client end to end: RunTask, DescribeTasks, ListTasks and
// StopTask, with AWS's documented request and response shapes (cpu and
// memory as strings, timestamps as epoch seconds, failures with reasons
// such as MISSING). It is test support: no emulator at hand runs ECS
// tasks (moto 5 answers RunTask with HTTP 500 and never runs one), so
// this is what the ECS side of every AWS test runs on.
//
// # Tasks run on the clock
//
// A task lives on a goroutine of its own, as on ECS, whoever looks at
// it: PROVISIONING, PENDING (Options.Delays), then RUNNING while its
// container runs, then DEPROVISIONING (Delays.Deprovisioning) and
// STOPPED. Delays default to DefaultDelay (10ms). DescribeTasks only
// reads. Close kills what still runs; Serve closes the fake when the test
// ends.
//
// What the container does is, by default, the task's Plan (Options.Behave:
// lines written at once, an exit code, sleep until stopped, hold until a
// channel closes, killed for its memory). With Options.Run it is a real
// process (Exec; ScriptsCommand runs a scripts directory through an
// entrypoint such as deployer-task): started when the task reaches
// RUNNING, its stdout and stderr cut into log events as the awslogs
// driver does (one per line, a line over 16 KiB in pieces of 16 KiB, no
// empty event) and handed to Options.OnLog as it writes them, while the
// task runs (or in batches collected for Options.LogInterval, as the
// driver batches them, for a sink that costs a call per batch).
//
// # As ECS reports it
//
//   - A container that exits by itself: desiredStatus STOPPED, stopCode
//     EssentialContainerExited, stoppedReason "Essential container in task
//     exited", the container's exit code (128+n when signal n killed it).
//   - StopTask of a running task: desiredStatus STOPPED at once, STOPPING
//     while SIGTERM goes to the container and SIGKILL follows after
//     Options.StopTimeout (the task definition's stopTimeout, default 30s
//     as on ECS); stopCode UserInitiated, the stop's reason as
//     stoppedReason ("Task stopped by user" without one), the exit code
//     the container exited with. Stopped before its container started, a
//     task goes to STOPPED without an exit code. As the ECS API reference
//     says, a task stopped by StopTask loses its tags. Stopping a stopped
//     task answers the task; stopping an unknown one answers
//     InvalidParameterException "The referenced task was not found.".
//   - KillOutOfMemory (or Plan.OutOfMemory): exit code 137, container
//     reason "OutOfMemoryError: Container killed due to memory usage",
//     stopCode EssentialContainerExited.
//   - A task that fails to start (Plan.FailToStart, or a RunFunc error as
//     "CannotStartContainerError: ...") stops at the end of PENDING with
//     stopCode TaskFailedToStart, no startedAt and no exit code; a
//     "Cannot...Error" is the container's reason too, a
//     "ResourceInitializationError: ..." the task's only.
//   - RunTask failures: Options.Capacity makes each cluster one container
//     instance whose cpu and memory running tasks use up, so a task that
//     does not fit is answered a failure RESOURCE:MEMORY (or
//     RESOURCE:CPU) naming the container instance's ARN; FailRunTask
//     injects any failure reason.
//   - Task definitions must be known (Options.TaskDefinitions): RunTask of
//     an unknown one answers ClientException "Unable to find task
//     definition.", and a container override naming a container the task
//     definition does not have answers InvalidParameterException.
//   - clientToken makes RunTask idempotent per cluster as ECS does: the
//     same token with the same parameters answers the original result
//     without starting anything; with different parameters it answers
//     ConflictException. Tokens do not expire.
//   - ListTasks filters by cluster, startedBy, family and desiredStatus
//     (RUNNING by default) and pages with maxResults (1 to 100, default
//     100) and nextToken. DescribeTasks takes at most 100 tasks and answers
//     unknown ones as failures with reason MISSING; tags only with include
//     TAGS.
//
// Not modelled: DEACTIVATING and ACTIVATING (the fake's tasks have no load
// balancers), several containers running (the first overridden one is the
// task's only running container), and tasks disappearing an hour after
// they stopped.
//
// With Options.Framed a planned task's output is what deployer-task
// writes: task records and an end record (see internal/task), as the task
// image of a real deployment would log.
//
// Tests: FailNext answers any operation with an AWS error; Tasks and Task
// return what ran (its statuses in TaskInfo.History), and WaitFor waits
// for a condition on the tasks without polling.
package ecsfake
