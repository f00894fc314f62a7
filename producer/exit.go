package producer

import "github.com/deployerhq/deployer/schemas"

// Exit codes of "deployer run" for outcomes other than "the task ran and
// exited": CI scripts branch on them. They follow sysexits(3) and the
// timeout(1)/shell conventions.
const (
	ExitCouldNotStart = 69  // EX_UNAVAILABLE: the task never ran, or the backend cannot be reached
	ExitUnavailable   = 69  // EX_UNAVAILABLE: the backend (AWS) cannot be reached at all
	ExitUsage         = 64  // EX_USAGE: bad command line
	ExitNoInput       = 66  // EX_NOINPUT: no such job, batch or dead letter
	ExitCantCreate    = 73  // EX_CANTCREAT: the state directory cannot be written
	ExitGaveUp        = 75  // EX_TEMPFAIL: --max-wait-time elapsed or contact lost; the job may still run
	ExitRejected      = 77  // EX_NOPERM: refused by policy
	ExitConfig        = 78  // EX_CONFIG: configuration error
	ExitTimedOut      = 124 // as timeout(1): the job hit its timeout and was stopped
	ExitCancelled     = 130 // as a shell after SIGINT: the job was cancelled
)

// ExitCode maps a job's terminal event to the exit code of "deployer run":
// the task's own exit code when it ran and exited, one of the Exit*
// constants otherwise.
func ExitCode(terminal schemas.JobEvent) int {
	switch terminal.Outcome {
	case schemas.OutcomeSucceeded:
		return 0
	case schemas.OutcomeFailed:
		if terminal.ExitCode != nil {
			return clampExit(*terminal.ExitCode)
		}
		return 1
	case schemas.OutcomeRejected:
		return ExitRejected
	case schemas.OutcomeTimedOut:
		return ExitTimedOut
	case schemas.OutcomeCancelled:
		return ExitCancelled
	case schemas.OutcomeCouldNotStart:
		return ExitCouldNotStart
	case schemas.OutcomeLost:
		return ExitGaveUp
	}
	return 1
}

// clampExit keeps a task's exit code inside what a process can return; a
// failure never maps to 0.
func clampExit(code int) int {
	if code < 1 || code > 255 {
		return 1
	}
	return code
}

// ExitCode is the exit code "deployer run" ends with for the followed
// job: ExitCode of its terminal event.
func (r FollowResult) ExitCode() int { return ExitCode(r.Terminal) }
