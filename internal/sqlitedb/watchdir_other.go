//go:build !linux

package sqlitedb

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// watchDir calls changed for each write to, or creation of, a file of dir
// named one of names (and when the platform dropped events, which may
// have been such writes), until stop is called. stop returns once changed
// is no longer called. Where the platform reports no writes to a
// directory's files (kqueue), only their creation calls changed.
func watchDir(dir string, names []string, changed func()) (stop func(), err error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	if err := fw.Add(dir); err != nil {
		_ = fw.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		events, errs := fw.Events, fw.Errors
		for events != nil || errs != nil {
			select {
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if ev.Op&(fsnotify.Write|fsnotify.Create) != 0 && slices.Contains(names, filepath.Base(ev.Name)) {
					changed()
				}
			case _, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				changed() // events dropped: everyone looks
			}
		}
	}()
	return func() {
		_ = fw.Close()
		<-done
	}, nil
}
