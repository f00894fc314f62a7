package client

import (
	"context"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/schedule"
)

// How a schedule's fire went (ScheduleFire.Status).
const (
	// FireClaimed: a scheduler took the due time and has not sent its
	// job yet (or died before it did).
	FireClaimed = schedule.StatusClaimed
	// FireSubmitted: the job request was sent; JobID names the job.
	FireSubmitted = schedule.StatusSubmitted
	// FireSkipped: the schedule's previous job had not ended (overlap:
	// skip).
	FireSkipped = schedule.StatusSkipped
	// FireNotSent: sending failed; Error says why. Counts as a failure.
	FireNotSent = schedule.StatusNotSent
)

// ScheduleState is what the embedded backend's schedulers ("deployer up")
// keep of a schedule of the configuration.
type ScheduleState struct {
	// Paused: no scheduler fires it until resumed. It pauses by hand
	// (PauseSchedule) or after pause_after_failures failures in a row.
	Paused      bool      `json:"paused"`
	PausedAt    time.Time `json:"paused_at,omitzero"`
	PauseReason string    `json:"pause_reason,omitempty"`
	// Failures counts its jobs in a row that did not succeed.
	Failures int `json:"failures"`
	// Last is its latest fire; nil when it never fired.
	Last *ScheduleFire `json:"last,omitempty"`
}

// ScheduleFire is one due time of a schedule that a scheduler took.
type ScheduleFire struct {
	Due   time.Time `json:"due"`
	Fired time.Time `json:"fired"`
	// JobID is the job sent, for FireSubmitted.
	JobID string `json:"job_id,omitempty"`
	// Status is FireClaimed, FireSubmitted, FireSkipped or FireNotSent.
	Status string `json:"status"`
	// Outcome is the job's outcome once it ended and was counted.
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ScheduleState returns the state of a schedule: a schedule no scheduler
// has seen yet has the zero state. name is not checked against a
// configuration (the client has none). On AWS, EventBridge Scheduler
// fires schedules and keeps their state, which the client cannot read:
// it fails with ErrNotSupported.
func (c *Client) ScheduleState(ctx context.Context, name string) (ScheduleState, error) {
	store, err := c.scheduleStore(ctx, "reading the state of schedule "+name, false)
	if err != nil {
		return ScheduleState{}, err
	}
	st, err := store.State(ctx, name)
	if err != nil {
		return ScheduleState{}, err
	}
	out := ScheduleState{Paused: st.Paused, PausedAt: st.PausedAt, PauseReason: st.PauseReason, Failures: st.Failures}
	if f := st.Last; f != nil {
		out.Last = &ScheduleFire{Due: f.Due, Fired: f.Fired, JobID: f.JobID, Status: f.Status, Outcome: f.Outcome, Error: f.Error}
	}
	return out, nil
}

// PauseSchedule pauses a schedule, saying why: no scheduler fires it
// until ResumeSchedule. Pausing a paused schedule keeps its first reason.
// ErrNotSupported on AWS, where the Terraform module's schedules variable
// pauses one (state = "DISABLED").
func (c *Client) PauseSchedule(ctx context.Context, name, reason string) error {
	store, err := c.scheduleStore(ctx, "pausing schedule "+name, true)
	if err != nil {
		return err
	}
	return store.Pause(ctx, name, reason)
}

// ResumeSchedule resumes a schedule and resets its failure count: due
// times passed while it was paused do not run, the next one does.
// ErrNotSupported on AWS (state = "ENABLED" in the Terraform module's
// schedules variable).
func (c *Client) ResumeSchedule(ctx context.Context, name string) error {
	store, err := c.scheduleStore(ctx, "resuming schedule "+name, true)
	if err != nil {
		return err
	}
	return store.Resume(ctx, name)
}

func (c *Client) scheduleStore(ctx context.Context, doing string, write bool) (*schedule.Store, error) {
	switch {
	case c.eb == nil:
		return nil, fmt.Errorf("%s: on AWS, EventBridge Scheduler fires schedules and keeps their state (set state = \"DISABLED\" or \"ENABLED\" in the Terraform module's schedules variable; see deployer jobs for what ran): %w", doing, ErrNotSupported)
	case write && c.eb.ReadOnly:
		return nil, fmt.Errorf("%s: the client opened the %s read-only", doing, c.Where())
	}
	return schedule.OpenStore(ctx, c.eb.DB, nil)
}
