// Package sqlitestream is the embedded adapter of the stream port: job
// streams kept in the state database, so every process sharing the state
// directory (CLIs, "deployer up", task supervisors) reads and writes the
// same streams.
//
// A stream is a row of stream_streams; its events are rows of an
// append-only table, stream_events, whose AUTOINCREMENT rowid orders them.
// SQLite has one writer at a time, so rowids become visible in increasing
// order and a subscription only keeps a rowid cursor: streams are
// replayable (every subscriber sees every event from the start), ordered
// (events appear in the order they were published) and never deliver an
// event twice to one subscription. Subscriptions wait by polling (every
// Options.PollInterval) and are woken at once by publishers of the same
// *Streams.
//
// Addresses have the form "sqlite:<JOBID>". A stream lives until Delete or
// until DeleteExpired runs past its expiry; expiry alone does not hide it.
package sqlitestream
