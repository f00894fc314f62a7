package netx_test

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/deployerhq/deployer/internal/netx"
)

func TestUnreachable(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	dns := &net.DNSError{Err: "no such host", Name: "sqs.example"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("opening queue requests: %w", dial), true},
		{fmt.Errorf("x: %w", dns), true},
		{fmt.Errorf("x: %w", read), false}, // it answered, then broke: a retry's business
		{errors.New("AccessDenied"), false},
		{nil, false},
	} {
		if cause, ok := netx.Unreachable(c.err); ok != c.want || (ok && cause == nil) {
			t.Errorf("Unreachable(%v) = %v, %v; want %v", c.err, cause, ok, c.want)
		}
	}
}
