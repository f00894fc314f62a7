// Package ui is deployer's web dashboard, served from the deployer binary
// ("deployer ui", "deployer up --ui-addr"): jobs with filters, a job's
// page with its output live, batches, lanes with their running and queued
// jobs, the dead-letter queue with dry runs and replays, and schedules.
// Its pages, script and style are embedded; it loads nothing from
// elsewhere.
//
// The dashboard reads and acts through Source, a port of its own;
// ClientSource fits it to package client, the Go client the CLI's
// commands use, and nothing below it.
//
// Guarantees:
//
//   - Read-only unless Options.AllowActions: every request but GET and
//     HEAD is refused (403) and no page offers an action. Actions
//     (replay, cancel, pause, resume) go through the gatekeeper as the
//     dashboard's own caller, by the code paths of the CLI's commands.
//   - Every action is a POST from the dashboard's own pages: a
//     cross-origin request (Sec-Fetch-Site, Origin) is refused, and the
//     form must carry its session's CSRF token (the HMAC, under a key
//     made at start, of a random session id held in an HttpOnly,
//     SameSite=Strict cookie).
//   - Job output and every other text a job or a caller chose is escaped
//     (html/template; the live log sets text, never HTML). The Content
//     Security Policy allows the dashboard's own script and style only,
//     and no framing.
//   - A job page's live log (server-sent events) delivers every line of
//     the task's output once and in order: each line's event id is its
//     ATTEMPT-SEQ, and a reconnecting browser resumes after the last id
//     it saw (Last-Event-ID). It reads the task's own log, never the
//     job's stream, so it takes nothing from the caller following it.
//   - With Options.LoopbackOnly, a request naming a host other than
//     loopback is refused, so that a page elsewhere cannot reach the
//     dashboard by rebinding its own name to 127.0.0.1.
package ui
