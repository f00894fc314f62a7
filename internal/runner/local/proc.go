package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// procToken identifies a process beyond its pid, so that a recycled pid is
// not mistaken for the supervisor that once had it: the process's start
// time from /proc/<pid>/stat. It is "" where /proc is not available.
func procToken(pid int) string {
	_, start, err := procStat(pid)
	if err != nil {
		return ""
	}
	return start
}

// ours reports whether pid is alive (not a zombie) and, when token is
// known, still the process that token was taken from.
func ours(pid int, token string) bool {
	if pid <= 0 {
		return false
	}
	state, start, err := procStat(pid)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false
	case err != nil:
		// No usable /proc: fall back to "the pid exists".
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	case state == "Z" || state == "X":
		return false
	case token != "" && start != token:
		return false
	}
	return true
}

// procStat returns the state and start time fields of /proc/<pid>/stat.
func procStat(pid int) (state, start string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if _, serr := os.Stat("/proc/self/stat"); serr != nil {
			// Not wrapped: this says nothing about the pid.
			return "", "", fmt.Errorf("no usable /proc: %v", serr) //nolint:errorlint // deliberately not wrapped
		}
		return "", "", err
	}
	// The command name is in parentheses and may hold anything; fields
	// are counted from after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", errors.New("malformed /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return "", "", errors.New("malformed /proc stat")
	}
	return string(f[0]), string(f[19]), nil
}
