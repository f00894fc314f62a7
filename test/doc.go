// Package test holds deployer's end-to-end and fault tests. They build the
// real binaries once (TestMain) and drive them as a user and CI would:
// separate processes sharing a state directory, with configurations and
// scripts written by the tests themselves.
package test
