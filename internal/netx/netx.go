// Package netx says what a network error means to a command: whether a
// service could be reached at all. It links nothing but the standard
// library, so that deployer, which leaves the AWS SDK out, can use it.
package netx

import (
	"errors"
	"net"
)

// Unreachable reports whether err is a failure to reach a service at all
// (a name that does not resolve, a connection refused or timed out), as
// opposed to an answer, and returns the network error that says why.
func Unreachable(err error) (cause error, ok bool) {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns, true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return op, true
	}
	return nil, false
}
