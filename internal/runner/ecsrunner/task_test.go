package ecsrunner

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deployerhq/deployer/internal/runner"
)

func TestConvertStopCodes(t *testing.T) {
	started := time.Unix(1_700_000_000, 0)
	stopped := started.Add(time.Minute)
	code := func(n int32) *int32 { return &n }
	tests := []struct {
		name       string
		stopCode   types.TaskStopCode
		started    bool
		exit       *int32
		sidecar    *int32 // exit code of another container
		reason     string // container reason
		wantCode   string
		wantExit   *int
		wantReason string
	}{
		{name: "exited", stopCode: types.TaskStopCodeEssentialContainerExited, started: true, exit: code(3), wantCode: runner.StopExited, wantExit: ptr(3)},
		{name: "exited zero", stopCode: types.TaskStopCodeEssentialContainerExited, started: true, exit: code(0), wantCode: runner.StopExited, wantExit: ptr(0)},
		{name: "deployer-task could not start the script", stopCode: types.TaskStopCodeEssentialContainerExited, started: true, exit: code(125),
			wantCode: runner.StopFailedToStart, wantReason: "deployer-task could not start the script"},
		{name: "stopped by request", stopCode: types.TaskStopCodeUserInitiated, started: true, exit: code(143), wantCode: runner.StopRequested, wantExit: ptr(143)},
		{name: "stopped before it ran", stopCode: types.TaskStopCodeUserInitiated, wantCode: runner.StopRequested},
		{name: "failed to start", stopCode: types.TaskStopCodeTaskFailedToStart, reason: "CannotPullContainerError: not found",
			wantCode: runner.StopFailedToStart, wantReason: "CannotPullContainerError"},
		{name: "container never ran, no exit code", stopCode: types.TaskStopCodeEssentialContainerExited, sidecar: code(1),
			reason: "CannotStartContainerError: secret", wantCode: runner.StopFailedToStart, wantReason: "CannotStartContainerError"},
		{name: "exit code of the named container only", stopCode: types.TaskStopCodeEssentialContainerExited, started: true,
			sidecar: code(0), wantCode: runner.StopLost},
		{name: "spot interruption", stopCode: types.TaskStopCodeSpotInterruption, started: true, exit: code(143), wantCode: runner.StopLost, wantExit: ptr(143)},
		{name: "infrastructure", stopCode: types.TaskStopCodeInfrastructureHealth, started: true, wantCode: runner.StopLost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := types.Task{
				TaskArn:       aws.String("arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef"),
				LastStatus:    aws.String("STOPPED"),
				StopCode:      tc.stopCode,
				StoppedReason: aws.String("Essential container in task exited"),
				StoppedAt:     &stopped,
				Containers: []types.Container{
					{Name: aws.String("sidecar"), ExitCode: tc.sidecar},
					{Name: aws.String("deployer"), ExitCode: tc.exit, Reason: optional(tc.reason)},
				},
			}
			if tc.started {
				task.StartedAt = &started
			}
			got := convert(task, "deployer")
			if got.Status != runner.StatusStopped || got.StopCode != tc.wantCode {
				t.Errorf("status %s, stop code %q; want stopped, %q", got.Status, got.StopCode, tc.wantCode)
			}
			if (got.ExitCode == nil) != (tc.wantExit == nil) || (got.ExitCode != nil && *got.ExitCode != *tc.wantExit) {
				t.Errorf("exit code %v, want %v", deref(got.ExitCode), deref(tc.wantExit))
			}
			if !strings.Contains(got.StopReason, tc.wantReason) || !strings.Contains(got.StopReason, "Essential container") {
				t.Errorf("stop reason %q, want the task's reason and %q", got.StopReason, tc.wantReason)
			}
			if got.ID != "0123456789abcdef0123456789abcdef" || got.LogEvents != -1 {
				t.Errorf("id %q, log events %d", got.ID, got.LogEvents)
			}
		})
	}
}

func TestConvertStatusesAndIdentity(t *testing.T) {
	for status, want := range map[string]runner.Status{
		"PROVISIONING": runner.StatusPending, "PENDING": runner.StatusPending, "ACTIVATING": runner.StatusPending,
		"RUNNING": runner.StatusRunning, "DEACTIVATING": runner.StatusRunning, "STOPPING": runner.StatusRunning,
		"DEPROVISIONING": runner.StatusRunning, "STOPPED": runner.StatusStopped,
	} {
		got := convert(types.Task{LastStatus: aws.String(status), TaskArn: aws.String("arn:aws:ecs:r:a:task/abc")}, "deployer")
		if got.Status != want {
			t.Errorf("%s: status %s, want %s", status, got.Status, want)
		}
		if got.Status != runner.StatusStopped && (got.StopCode != "" || got.ExitCode != nil) {
			t.Errorf("%s: a live task has stop code %q, exit code %v", status, got.StopCode, got.ExitCode)
		}
	}
	tagged := convert(types.Task{
		TaskArn: aws.String("arn:aws:ecs:r:a:task/abc"), StartedBy: aws.String("JOB"), LastStatus: aws.String("RUNNING"),
		Tags: []types.Tag{{Key: aws.String(TagJobID), Value: aws.String("JOB")}, {Key: aws.String(TagAttempt), Value: aws.String("2")},
			{Key: aws.String("team"), Value: aws.String("infra")}},
	}, "deployer")
	if tagged.ID != "abc" || tagged.JobID != "JOB" || tagged.Attempt != 2 || tagged.Tags["team"] != "infra" {
		t.Errorf("tagged task = %+v", tagged)
	}
	// StopTask deleted the tags: the overrides still say who it is.
	untagged := convert(types.Task{
		TaskArn: aws.String("arn:aws:ecs:r:a:task/c/abc"), StartedBy: aws.String("JOB"), LastStatus: aws.String("STOPPED"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{
			{Name: aws.String("other"), Environment: []types.KeyValuePair{{Name: aws.String(EnvAttempt), Value: aws.String("9")}}},
			{Name: aws.String("deployer"), Environment: []types.KeyValuePair{{Name: aws.String(EnvAttempt), Value: aws.String("3")}}},
		}},
	}, "deployer")
	if untagged.JobID != "JOB" || untagged.Attempt != 3 {
		t.Errorf("untagged task = %+v, want job JOB attempt 3", untagged)
	}
}

func TestClientToken(t *testing.T) {
	const ulid = "01JDQ4Z8M6X5T3B0VYH2N7K9PA"
	if got := ClientToken(ulid+"-r2", 3); got != ulid+"-r2.3" {
		t.Errorf("ClientToken = %q", got)
	}
	if ClientToken(ulid, 1) == ClientToken(ulid, 2) {
		t.Error("attempts share a client token")
	}
	long := strings.Repeat("J", 128)
	tok := ClientToken(long, 999_999_999)
	if len(tok) > 64 || tok != ClientToken(long, 999_999_999) || tok == ClientToken(long, 1) {
		t.Errorf("ClientToken of a long id = %q (%d chars): want ≤64, deterministic, per attempt", tok, len(tok))
	}
	if got := TaskID("arn:aws:ecs:us-east-1:123456789012:task/cluster/abc"); got != "abc" {
		t.Errorf("TaskID = %q", got)
	}
}

func ptr(n int) *int { return &n }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *int) any {
	if p == nil {
		return "none"
	}
	return *p
}
