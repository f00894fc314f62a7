// Package topology defines, once, the queues every deployment has: their
// names (before an adapter's prefix), their redrive limits and the
// settings both backends create them with. The gatekeeper, the worker,
// the SQS job streams and both backends take them from here; the
// Terraform module (terraform/modules/deployer) cannot import Go, so this
// package's tests read the module and fail when a name or limit there
// differs from the one here.
//
// It imports nothing of the project but the queue port, so every package
// can use it without a cycle.
package topology
