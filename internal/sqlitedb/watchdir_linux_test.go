package sqlitedb

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// inotifyEvent encodes one event as the kernel does: the name NUL-padded
// to a multiple of the header's alignment, counted in Len.
func inotifyEvent(mask uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 1 + 15) &^ 15
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], 1) // wd
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestForEachEventReadsNamesAndStopsAtAPartialEvent(t *testing.T) {
	var b []byte
	b = append(b, inotifyEvent(unix.IN_MODIFY, "state.db-wal")...)
	b = append(b, inotifyEvent(unix.IN_Q_OVERFLOW, "")...)
	b = append(b, inotifyEvent(unix.IN_CREATE, "a-name-longer-than-sixteen-bytes")...)
	whole := len(b)
	b = append(b, inotifyEvent(unix.IN_MODIFY, "cut")...)
	b = b[:whole+unix.SizeofInotifyEvent+2] // the last event's name cut short

	type event struct {
		mask uint32
		name string
	}
	var got []event
	forEachEvent(b, func(mask uint32, name []byte) { got = append(got, event{mask, string(name)}) })
	want := []event{
		{unix.IN_MODIFY, "state.db-wal"},
		{unix.IN_Q_OVERFLOW, ""},
		{unix.IN_CREATE, "a-name-longer-than-sixteen-bytes"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}
