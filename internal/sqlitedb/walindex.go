package sqlitedb

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"
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
type walIndex struct {
	path  string
	f     *os.File
	ino   uint64
	taken [walHeaderSize]byte // the header of the last commit taken
	buf   [2 * walHeaderSize]byte
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// openWALIndex opens the -shm file of the database at path; nil when it
// cannot be read (no WAL database there, or not readable by this
// process): the changes are then not gated. What the header says now is
// taken: only commits from now on are news.
func openWALIndex(path string) *walIndex {
	w := &walIndex{path: path + "-shm"}
	if !w.open() {
		return nil
	}
	if h, ok := w.read(); ok {
		w.taken = h
	}
	return w
}

// open (re)opens the file; false when it cannot.
func (w *walIndex) open() bool {
	f, err := os.Open(w.path)
	if err != nil {
		return false
	}
	ino, ok := inode(f)
	if !ok {
		_ = f.Close()
		return false
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	w.f, w.ino = f, ino
	return true
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
// new one was made), and then reads the new one from now on, taking what
// it says now.
func (w *walIndex) replaced() bool {
	fi, err := os.Stat(w.path)
	if err != nil {
		return false
	}
	ino, ok := fileInode(fi)
	if !ok || ino == w.ino || !w.open() {
		return false
	}
	if h, ok := w.read(); ok {
		w.taken = h
	}
	return true
}

// close closes the file.
func (w *walIndex) close() { _ = w.f.Close() }

// inode returns the inode number of an open file.
func inode(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	return fileInode(fi)
}

// fileInode returns the inode number a file's information holds.
func fileInode(fi os.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true //nolint:unconvert // uint64 on Linux, not everywhere
}
