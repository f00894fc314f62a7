// Package sqlitelane is the embedded adapter of the lane port: leases in
// one table of the state database, so the limit holds across every
// process sharing the state directory.
//
// Acquire counts the lane's unexpired leases and takes a slot in one write
// transaction (BEGIN IMMEDIATE), so concurrent acquirers, in this process
// or another, never exceed the limit. An expired lease frees its slot
// without anyone removing it; Acquire sweeps the lane's expired leases as
// it goes. Transfer renames a lease (or merges it into the new holder's)
// in one transaction, so the lane's count never moves. Expiry is judged by
// the local clock, which every process on the host shares.
package sqlitelane
