// Package replay selects dead letters and replays them through the
// gatekeeper, one or many at a time. "deployer dlq" is built on it, and a
// dashboard can call the same Engine.
//
// Guarantees:
//
//   - A dry run (Engine.Plan) and a replay (Engine.Replay) judge each dead
//     letter with the same function: the replay's request, exactly as it
//     would be sent (producer.ReplayRequest), resolved by the policy in
//     force (gatekeeper/policy Resolve). A replay sends only what its own
//     judgement accepts, so the two agree unless the policy changes in
//     between.
//   - A dead letter is deleted only after the gatekeeper has accepted its
//     replay (its accepted event is in the replay job's journal). A replay
//     the policy rejects, here or at the gatekeeper, keeps its dead letter
//     and says why; it can be tried again once the policy is fixed.
//   - The replay's job id is derived from the dead letter
//     (producer.NextReplayID: "<id>-r1"), so a job accepted once runs once
//     however often it is replayed: a replay whose job was accepted is
//     answered "already replayed as X (state)" and sends nothing.
//
// Order of operations for one dead letter, and what a crash at each step
// leaves behind:
//
//  1. Scan the dead-letter queues, hiding every letter (ScanVisibility).
//     Crash: the letters reappear within seconds.
//  2. Judge: the replay job's journal says whether it was accepted
//     already; otherwise the policy resolves the replay's request.
//  3. Hide the letter for the replay (HoldVisibility and the answer wait)
//     and send the request (its stream first). Crash: the letter
//     reappears; the request, if queued, is judged by the gatekeeper.
//  4. Wait for the gatekeeper's answer in the journal. Accepted: delete
//     the letter. Rejected: hand it back at once. No answer in time: hand
//     it back (pending). Crash: the letter reappears; the next replay
//     finds the accepted replay (answers "already" and deletes the letter),
//     or the rejection (tries the next attempt of the same job id), or
//     nothing yet (sends the same job id and attempt again, which the
//     runner starts once).
package replay
