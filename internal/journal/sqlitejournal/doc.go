// Package sqlitejournal is the embedded adapter of the journal port: each
// job's status events in one table of the state database, shared by every
// process of the state directory.
//
// Events keep the order they were first appended in (a per-job seq) and
// are unique per job by event id, so re-appending an event (a retried
// report, a redelivered message) changes nothing. Entries that no longer
// decode are skipped on read, with the reason logged.
package sqlitejournal
