// Package sqlitelog is the embedded adapter of the task log port: every
// line of every local task in one table of the state database, written by
// the local runner's task supervisors and read by followers, "deployer
// logs" and the embedded logshipper, in any process sharing the state
// directory.
//
// Lines are keyed by (task, seq): appending a line again is a no-op, so a
// supervisor may retry a batch freely. Besides the port's Read, a Log
// offers Tail, which walks every task's lines in the order they were
// stored by a cursor that only grows (the table's AUTOINCREMENT rowid;
// SQLite commits one writer at a time, so a cursor never skips a line
// committed later), and a small table of named cursors, so a tailer can
// resume where it stopped.
package sqlitelog
