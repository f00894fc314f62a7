// Package schedule fires the configuration's schedules on the embedded
// backend: a Scheduler, served by "deployer up" beside the pipeline,
// sends each due job as an ordinary job request (producer.Client.Submit),
// so the gatekeeper checks it like any other, sent as the schedule's own
// caller, "schedule:NAME".
//
// Guarantees, with any number of schedulers on one state database:
//
//   - Each (schedule, due time) is claimed in SQLite under a unique key
//     before anything is sent, so at most one scheduler sends it. A
//     scheduler that dies between the claim and the send loses that one
//     fire (it shows as claimed, without a job); it is never sent twice.
//   - Due times missed while no scheduler ran are not caught up one by
//     one: the latest missed one runs, once, when a scheduler next looks;
//     the others are dropped. A schedule first seen now runs from its next
//     due time on, as does a schedule resumed after a pause.
//   - Overlap: skip sends nothing while the previous job of the schedule
//     has not ended (recorded as a skipped fire); allow sends anyway;
//     cancel-previous asks the gatekeeper to cancel the previous job, then
//     sends.
//   - After pause_after_failures consecutive jobs that did not succeed
//     (failed, rejected, timed out, cancelled, could not start, lost, or
//     could not be sent), the schedule pauses until "deployer schedules
//     resume NAME", which also resets the count. Outcomes are counted in
//     due-time order, once each, whichever scheduler sees them first.
//
// Store holds the claims and the paused state; "deployer schedules" reads
// it. cronspec computes due times.
package schedule
