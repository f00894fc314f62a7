// Package ecsfake is an in-memory, HTTP-level fake of the Amazon ECS API
// (awsJson1_1, X-Amz-Target prefix AmazonEC2ContainerServiceV20141113)
// served by an awsfake.Server, so the ECS runner's tests run the real
// aws-sdk-go-v2 client end to end: RunTask, DescribeTasks, ListTasks and
// StopTask, with AWS's documented request and response shapes (cpu and
// memory as strings, timestamps as epoch seconds, failures with reasons
// such as MISSING).
//
// # Behaviour
//
//   - Task definitions must be known (Options.TaskDefinitions): RunTask of
//     an unknown one answers ClientException "Unable to find task
//     definition.", and a container override naming a container the task
//     definition does not have answers InvalidParameterException, as ECS
//     does.
//   - A task does what Options.Behave plans for it (lines written, exit
//     code, sleep until stopped, or a failure to start). Its state advances
//     one step each time a DescribeTasks names it, never with wall-clock
//     time: PROVISIONING, then RUNNING (its lines are handed to
//     Options.OnLog and it counts as having run), then STOPPED (unless it
//     sleeps, or its plan holds it). A task planned to fail to start goes
//     from PROVISIONING straight to STOPPED with stop code
//     TaskFailedToStart and no exit code.
//   - StopTask moves a task to STOPPING (desired status STOPPED) and the
//     next DescribeTasks to STOPPED with stop code UserInitiated, the
//     stop's reason as stoppedReason, and exit code 143 (SIGTERM) when the
//     container had started. As the ECS API reference says, a stopped
//     task's tags are deleted. Stopping a stopped task answers the task;
//     stopping an unknown one answers InvalidParameterException "The
//     referenced task was not found.".
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
// With Options.Framed a task's output is what deployer-task writes: task
// records and an end record (see internal/task), as the task image of a
// real deployment would log.
//
// Fault injection: FailRunTask makes the next RunTask calls answer
// placement failures (RESOURCE:MEMORY, ...), FailNext answers any
// operation with an AWS error. Tasks returns what ran, for the run
// counts of the conformance suite.
package ecsfake
