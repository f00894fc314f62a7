package ecsrunner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/task"
)

// TaskID returns the ECS task id of a task ARN
// ("arn:aws:ecs:region:account:task/cluster/ID" or the older
// ".../task/ID"); an id is returned as is.
func TaskID(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// toTask is the port's view of an ECS task.
func (r *Runner) toTask(t types.Task) runner.Task {
	return convert(t, r.opts.ContainerName)
}

// convert maps an ECS task, whose job runs in the container named
// container, to the port's Task.
func convert(t types.Task, container string) runner.Task {
	out := runner.Task{
		ID:        TaskID(aws.ToString(t.TaskArn)),
		JobID:     aws.ToString(t.StartedBy),
		LogEvents: -1,
		StartedAt: aws.ToTime(t.StartedAt),
		StoppedAt: aws.ToTime(t.StoppedAt),
	}
	if len(t.Tags) > 0 {
		out.Tags = make(map[string]string, len(t.Tags))
		for _, tg := range t.Tags {
			out.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}
	env := overrideEnv(t.Overrides, container)
	if v := out.Tags[TagJobID]; v != "" {
		out.JobID = v
	} else if v := env[EnvJobID]; v != "" && out.JobID == "" {
		out.JobID = v
	}
	// StopTask deletes tags: the attempt is also in the overrides.
	if n, err := strconv.Atoi(out.Tags[TagAttempt]); err == nil {
		out.Attempt = n
	} else if n, err := strconv.Atoi(env[EnvAttempt]); err == nil {
		out.Attempt = n
	}

	var c *types.Container
	for i := range t.Containers {
		if aws.ToString(t.Containers[i].Name) == container {
			c = &t.Containers[i]
			break
		}
	}
	switch aws.ToString(t.LastStatus) {
	case "STOPPED":
		out.Status = runner.StatusStopped
	case "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING":
		out.Status = runner.StatusRunning
	default: // PROVISIONING, PENDING, ACTIVATING
		out.Status = runner.StatusPending
	}
	if out.Status != runner.StatusStopped {
		return out
	}
	if c != nil && c.ExitCode != nil {
		code := int(*c.ExitCode)
		out.ExitCode = &code
	}
	out.StopReason = aws.ToString(t.StoppedReason)
	if c != nil && aws.ToString(c.Reason) != "" && aws.ToString(c.Reason) != out.StopReason {
		out.StopReason = joinReason(out.StopReason, "container "+container+": "+aws.ToString(c.Reason))
	}
	switch {
	case t.StopCode == types.TaskStopCodeTaskFailedToStart:
		out.StopCode = runner.StopFailedToStart
	case t.StopCode == types.TaskStopCodeUserInitiated:
		out.StopCode = runner.StopRequested
	case out.ExitCode == nil && t.StartedAt == nil:
		// The container never ran (image pull failure, a secret the agent
		// could not fetch, ...): could not start, never exit 0.
		out.StopCode = runner.StopFailedToStart
	case t.StopCode == types.TaskStopCodeEssentialContainerExited && out.ExitCode != nil && *out.ExitCode == task.ExitCouldNotStart:
		// deployer-task refused the script or could not resolve a
		// secret; the task's log says why.
		out.StopCode, out.ExitCode = runner.StopFailedToStart, nil
		out.StopReason = joinReason(out.StopReason, fmt.Sprintf("deployer-task could not start the script (exit code %d); the task's log says why", task.ExitCouldNotStart))
	case t.StopCode == types.TaskStopCodeEssentialContainerExited && out.ExitCode != nil:
		out.StopCode = runner.StopExited
	default:
		// Spot interruption, infrastructure, a scheduler, or ran and
		// vanished without an exit code.
		out.StopCode = runner.StopLost
	}
	return out
}

// overrideEnv returns the environment overrides of container.
func overrideEnv(o *types.TaskOverride, container string) map[string]string {
	env := map[string]string{}
	if o == nil {
		return env
	}
	for _, co := range o.ContainerOverrides {
		if aws.ToString(co.Name) != container {
			continue
		}
		for _, kv := range co.Environment {
			env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
		}
	}
	return env
}

// joinReason appends more to a reason.
func joinReason(reason, more string) string {
	if reason == "" {
		return more
	}
	return reason + "; " + more
}
