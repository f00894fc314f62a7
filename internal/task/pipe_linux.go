package task

import "golang.org/x/sys/unix"

// buffered reports whether the pipe holds bytes not read yet (or whether
// that is unknown: then it is taken to).
func (p *watchedPipe) buffered() bool {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return true
	}
	var (
		n    int
		ierr error
	)
	if err := rc.Control(func(fd uintptr) {
		n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	}); err != nil || ierr != nil {
		return true
	}
	return n > 0
}
