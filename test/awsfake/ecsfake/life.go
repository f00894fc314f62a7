package ecsfake

import (
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"
)

// task is one task of the fake. Its fields are guarded by Fake.mu; its
// life runs on a goroutine of its own (Fake.life).
type task struct {
	id, arn, cluster, clusterARN, startedBy, family, taskDefARN string
	group, launchType, cpu, memory, instanceARN                 string
	created, pullStarted, pullStopped, started                  time.Time
	stopping, executionStopped, stopped                         time.Time
	lastStatus, desiredStatus, containerStatus                  string
	stopCode, stoppedReason                                     string
	tags, runTags                                               []tag
	overrides                                                   *taskOverride
	container                                                   string // the overridden (first) container
	containers                                                  []string
	command                                                     []string
	env                                                         map[string]string
	plan                                                        Plan
	exitCode                                                    *int
	containerReason                                             string
	ran, userStop, oom                                          bool
	version                                                     int64
	history                                                     []string

	// stopReq is closed by StopTask; signals carries SIGTERM and SIGKILL
	// to the running container; killTimer sends the SIGKILL.
	stopReq   chan struct{}
	signals   chan syscall.Signal
	killTimer *time.Timer
}

func (t *task) info() TaskInfo {
	tags := map[string]string{}
	for _, tg := range t.runTags {
		tags[tg.Key] = tg.Value
	}
	var code *int
	if t.exitCode != nil {
		c := *t.exitCode
		code = &c
	}
	return TaskInfo{
		ID: t.id, ARN: t.arn, Cluster: t.cluster, StartedBy: t.startedBy, TaskDefinition: t.family,
		Tags: tags, Command: slices.Clone(t.command), Env: maps.Clone(t.env),
		LastStatus: t.lastStatus, DesiredStatus: t.desiredStatus, Ran: t.ran,
		StopCode: t.stopCode, StoppedReason: t.stoppedReason, ExitCode: code, ContainerReason: t.containerReason,
		History: slices.Clone(t.history),
	}
}

// signal sends sig to the running container without blocking. f.mu is
// held.
func (t *task) signal(sig syscall.Signal) {
	select {
	case t.signals <- sig:
	default: // the container already has signals it has not read
	}
}

// touch records a change of t and wakes WaitFor. f.mu is held.
func (f *Fake) touch(t *task) {
	t.version++
	if n := len(t.history); n == 0 || t.history[n-1] != t.lastStatus {
		t.history = append(t.history, t.lastStatus)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// update changes t under the lock.
func (f *Fake) update(t *task, fn func(now time.Time)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(time.Now())
	f.touch(t)
}

// stopContainer sends the running container SIGTERM, and SIGKILL after
// the stop timeout, as ECS stops a task. f.mu is held.
func (f *Fake) stopContainer(t *task) {
	t.lastStatus = "STOPPING"
	t.signal(syscall.SIGTERM)
	t.killTimer = time.AfterFunc(f.opts.StopTimeout, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if t.containerStatus == "RUNNING" {
			t.signal(syscall.SIGKILL)
		}
	})
}

// pause waits d in the task's current state. It reports false when the
// task was stopped meanwhile (it is then STOPPED) or the fake closed.
func (f *Fake) pause(t *task, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.stopReq:
		f.update(t, func(now time.Time) {
			// Stopped before its container started: no exit code.
			t.lastStatus, t.containerStatus, t.stopped = "STOPPED", "STOPPED", now
			t.tags = nil // "Any tags associated with the task will be deleted."
		})
		return false
	case <-f.ctx.Done():
		return false
	}
}

// life takes t from PROVISIONING to STOPPED on the wall clock.
func (f *Fake) life(t *task) {
	defer f.wg.Done()
	if !f.pause(t, f.delays.Provisioning) {
		return
	}
	f.update(t, func(now time.Time) { t.lastStatus, t.pullStarted = "PENDING", now })
	if !f.pause(t, f.delays.Pending) {
		return
	}
	if reason := t.plan.FailToStart; reason != "" {
		f.failToStart(t, reason)
		return
	}
	f.mu.Lock()
	info := t.info()
	f.mu.Unlock()
	out := &eventWriter{emit: func(lines []string) { f.log(t.id, lines) }, every: f.opts.LogInterval}
	run := f.opts.Run
	if run == nil {
		run = f.playPlan(t)
	}
	wait, err := run(f.ctx, Container{Task: info, Output: out, Signals: t.signals})
	if err != nil {
		f.failToStart(t, "CannotStartContainerError: "+err.Error())
		return
	}
	f.update(t, func(now time.Time) {
		t.pullStopped, t.started, t.ran = now, now, true
		t.lastStatus, t.containerStatus = "RUNNING", "RUNNING"
		if t.desiredStatus == "STOPPED" {
			f.stopContainer(t) // stopped while its container was starting
		}
	})
	out.open()
	code := wait()
	out.flush()
	if f.ctx.Err() != nil {
		return
	}
	f.update(t, func(now time.Time) {
		if t.killTimer != nil {
			t.killTimer.Stop()
		}
		t.exitCode = &code
		t.containerStatus, t.executionStopped = "STOPPED", now
		if t.oom {
			t.containerReason = ReasonOutOfMemory
		}
		if t.desiredStatus != "STOPPED" {
			t.desiredStatus, t.stopping = "STOPPED", now
			t.stopCode, t.stoppedReason = "EssentialContainerExited", ReasonEssentialExited
		}
		t.lastStatus = "DEPROVISIONING"
	})
	timer := time.NewTimer(f.delays.Deprovisioning)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-f.ctx.Done():
		return
	}
	f.update(t, func(now time.Time) {
		t.lastStatus, t.stopped = "STOPPED", now
		if t.userStop {
			t.tags = nil // "Any tags associated with the task will be deleted."
		}
	})
}

// failToStart stops t before its container ran.
func (f *Fake) failToStart(t *task, reason string) {
	f.update(t, func(now time.Time) {
		t.lastStatus, t.desiredStatus, t.containerStatus = "STOPPED", "STOPPED", "STOPPED"
		t.stopCode, t.stoppedReason = "TaskFailedToStart", reason
		if strings.HasPrefix(reason, "Cannot") {
			t.containerReason = reason
		}
		if t.stopping.IsZero() {
			t.stopping = now
		}
		t.pullStopped, t.stopped = now, now
	})
}

// log hands a task's events to Options.OnLog.
func (f *Fake) log(taskID string, lines []string) {
	if f.opts.OnLog != nil && len(lines) > 0 {
		f.opts.OnLog(taskID, lines)
	}
}
