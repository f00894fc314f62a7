// Package embedded assembles the default backend: every port on one SQLite
// database in a state directory, tasks as local processes, and the whole
// pipeline (gatekeeper, worker, logshipper) served in-process. Any number
// of processes may open one state directory at once: CLIs submitting and
// following jobs, "deployer up"s serving it, and task supervisors.
//
// Every adapter shares the backend's one database handle, so that the
// writes of one step of a job, made through several ports, are one
// commit (Backend.Together, given to the producer, the gatekeeper and
// the worker as their writes.Together).
package embedded
