package sqlitedb

import (
	"bytes"
	"encoding/binary"
	"os"
	"sync"
)

// walIndex tells when a commit has become visible, from the WAL-index
// header at the start of the database's -shm file (see
// https://www.sqlite.org/walformat.html, "The WAL-Index Header"): 48
// bytes in the machine's byte order, written twice by every commit, the
// second copy first. A reader
// starts from the header it reads with both copies equal, so once they
// are equal and differ from the header last taken, a look finds the
// commit. The file is what SQLite maps; reading it through the page cache
// sees what it writes there.
//
// The kernel reports a commit's writes to the -wal file before the commit
// is visible (its frames come first, the header last, in shared memory,
// which nobody is told of): the header says when to look.
//
// Its descriptors of the file are never closed. SQLite's connections in
// this process lock the -shm through a descriptor of their own, with
// POSIX record locks (the dead-man switch every open connection holds,
// the read marks, the writer's lock), and closing any descriptor of a
// file drops every POSIX lock the process holds on it. Closed, the next
// process to open the database took itself for the first, truncated the
// file under this one's mapping, and this one's next statement failed
// with "disk I/O error" (SQLITE_IOERR_IN_PAGE). A process keeps one
// descriptor per -shm file it watched (one more when another SQLite made
// the file anew, held by keepOpen), whatever its number of watches.
type walIndex struct {
	path  string
	f     *os.File
	fi    os.FileInfo         // f's, to tell it from a file made anew at path
	taken [walHeaderSize]byte // the header of the last commit taken
	buf   [2 * walHeaderSize]byte
}

var (
	keptMu sync.Mutex
	// kept are the descriptors of -shm files no walIndex reads any more
	// (made anew since, or whose Stat failed), kept open and reachable:
	// an *os.File's finalizer closes it.
	kept []*os.File
)

// keepOpen keeps f open for the process's life (see walIndex).
func keepOpen(f *os.File) {
	keptMu.Lock()
	defer keptMu.Unlock()
	kept = append(kept, f)
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// openWALIndex opens the -shm file of the database at path; nil when it
// cannot be read (no WAL database there, or not readable by this
// process): the changes are then not gated.
func openWALIndex(path string) *walIndex {
	w := &walIndex{path: path + "-shm"}
	if !w.open() {
		return nil
	}
	return w
}

// open (re)opens the file and takes what its header says now: only
// commits from now on are news. False when it cannot be opened. No
// descriptor of the file is closed (see walIndex).
func (w *walIndex) open() bool {
	f, err := os.Open(w.path)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		keepOpen(f)
		return false
	}
	if w.f != nil {
		keepOpen(w.f)
	}
	w.f, w.fi = f, fi
	w.retake()
	return true
}

// retake takes what the header says now: only commits from now on are
// news (a watch that starts again).
func (w *walIndex) retake() {
	if h, ok := w.read(); ok {
		w.taken = h
	}
}

// read returns the header when its two copies are equal and initialised;
// false while a commit writes it, or when the file is too short to hold
// it (being set up, or truncated by the first connection to open the
// database after all had closed).
func (w *walIndex) read() ([walHeaderSize]byte, bool) {
	var h [walHeaderSize]byte
	n, _ := w.f.ReadAt(w.buf[:], 0)
	if n < len(w.buf) {
		return h, false
	}
	first, second := w.buf[:walHeaderSize], w.buf[walHeaderSize:]
	// isInit, the byte at offset 12, is set in every header written.
	if first[12] == 0 || !bytes.Equal(first, second) {
		return h, false
	}
	copy(h[:], first)
	return h, true
}

// committed reports whether a commit not yet taken is visible, and takes
// it: the next call reports only a later one. A header with no frames
// (mxFrame, at offset 16, zero) is the one a writer restarting the WAL
// after a checkpoint writes as its transaction begins, before its commit:
// not one.
func (w *walIndex) committed() bool {
	h, ok := w.read()
	if !ok || h == w.taken || binary.NativeEndian.Uint32(h[16:]) == 0 {
		return false
	}
	w.taken = h
	return true
}

// replaced reports whether the -shm file at the path is no longer the one
// read (another SQLite removed it when its last connection closed, and a
// new one was made), and then reads the new one from now on.
func (w *walIndex) replaced() bool {
	fi, err := os.Stat(w.path)
	return err == nil && !os.SameFile(fi, w.fi) && w.open()
}
