package sqlitedb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// watchDir calls changed after each read of the directory's events that
// holds a write to, or the creation of, a file of dir named one of names
// (or says the kernel dropped events, which may have been such writes),
// until stop is called. stop returns once changed is no longer called.
//
// It reads inotify itself: a commit of a large batch is hundreds of
// writes to the WAL, and a reader that reads the whole queue at once and
// scans it costs far less than a channel send per event (fsnotify's).
func watchDir(dir string, names []string, changed func()) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	// Non-blocking, the descriptor is Go's poller's: Close ends a Read.
	f := os.NewFile(uintptr(fd), "inotify")
	done := make(chan struct{})
	go func() {
		defer close(done)
		readEvents(f, names, changed)
	}()
	return func() {
		_ = f.Close()
		<-done
	}, nil
}

// readEvents reads inotify events from f until it is closed.
func readEvents(f *os.File, names []string, changed func()) {
	// Room for hundreds of events per read; an event and its name fit
	// in unix.SizeofInotifyEvent+unix.NAME_MAX+1 bytes.
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				// The watch is broken: wake everyone to look, and
				// leave them to their polls from now on.
				changed()
			}
			return
		}
		// One call for all the writes read: what follows a wake-up
		// (Changes.changed) does not depend on how many there were.
		hit := false
		forEachEvent(buf[:n], func(mask uint32, name []byte) {
			hit = hit || mask&unix.IN_Q_OVERFLOW != 0 || slices.Contains(names, string(name))
		})
		if hit {
			changed()
		}
	}
}

// forEachEvent calls fn for each whole inotify event in b, with its name
// (empty for an event of the directory itself).
func forEachEvent(b []byte, fn func(mask uint32, name []byte)) {
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then the name.
		mask := binary.NativeEndian.Uint32(b[4:])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:]))
		if end > len(b) {
			return
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		fn(mask, name)
		b = b[end:]
	}
}
