// Package gcstart holds off the garbage collector while a deployer binary's
// packages initialise, and until the heap first needs collecting after
// main has started.
//
// Go runs the init of every linked package before main. deployer-aws's
// allocate about 7 MB (most of it the AWS SDK's service schemas; 9 MB
// while a JSON schema library's meta-schemas were among them), and at the
// default GOGC of 100 the collector ran twice during them, from a 4 MB
// heap: a fifth of the time deployer, which linked the SDK then, took to
// start and exit ("deployer --version": 22 ms, 17 ms without). deployer,
// which leaves the SDK out, allocates under 1 MB in init, and the other
// binaries 3–4 MB; what they gain is a command that ends before its heap
// reaches Held's goal never collecting at all.
//
// Go initialises packages one at a time, each once its imports are, and
// of those ready the first by import path. This package imports only
// runtime (initialised before any other) and unsafe, so it is ready at
// once and comes almost first (sixth in deployer), before any package
// that allocates much. Its init raises GOGC to Held; Release, the first
// thing each main does, has the runtime's own GOGC back after the first
// collection. A GOGC the user set (GOGC=off included) is kept throughout:
// Held replaces only Go's default.
//
// Not back at once: no collection has run yet, so Go's first heap goal
// (4 MB) would apply, and what init left (7 MB in deployer-aws, most of it
// live for good) is over it; the collector would run at once and mark it
// all, 4–5 ms of CPU in a command that may well exit before its heap
// reaches Held's 16 MB goal ("deployer run" of a short script does). After
// the first collection, Go's default sets the goals from the heap that
// collection found live, as it always does.
//
// The setting is runtime/debug.SetGCPercent's, reached through the
// linkname directive by which the runtime provides it to runtime/debug.
// Importing runtime/debug instead would order this package after every
// ready package whose path sorts before "runtime/debug", the AWS SDK's
// among them, after the first collection, and gain about 1 ms instead of
// 4–5.
//
// Only main packages import it (TestOnlyMainsImportIt), and every one
// calls Release first (TestEveryMainReleases).
package gcstart

import (
	"runtime"
	_ "unsafe" // go:linkname
)

// Held is the GOGC package init runs with: a first heap goal of 16 MB,
// above what deployer-aws's init allocates. Not off, so that a program that
// never calls Release still collects.
const Held = 400

// goDefault is Go's GOGC when the environment sets none.
const goDefault = 100

// setGCPercent is runtime/debug.SetGCPercent's implementation.
//
//go:linkname setGCPercent runtime/debug.setGCPercent
func setGCPercent(percent int32) (previous int32)

// before is the runtime's GOGC before this package's init: Go's default
// or the environment's.
var before = hold()

// hold raises GOGC to Held unless the environment set it, and returns
// what it was.
func hold() int32 {
	p := setGCPercent(Held)
	if p != goDefault {
		setGCPercent(p)
	}
	return p
}

// Release returns the collector to the GOGC it had before this package's
// init once it has collected for the first time. Every main that links
// this package calls it before anything else.
func Release() {
	if before != goDefault {
		close(restored) // the user's GOGC: never changed
		return
	}
	// The cleanup of an object nothing refers to runs once a collection
	// has found it unreachable: after the first. Not a tiny object (less
	// than 16 bytes, no pointers), which shares its memory with others and
	// may outlive them.
	runtime.AddCleanup(new([64]byte), restore, struct{}{})
}

// restored is closed once the GOGC from before this package's init is
// back (tests wait on it).
var restored = make(chan struct{})

// restore puts back the GOGC from before this package's init, unless the
// program has changed it since: its setting stands.
func restore(struct{}) {
	if p := setGCPercent(before); p != Held {
		setGCPercent(p)
	}
	close(restored)
}
