// Command lambdazip packages a Lambda binary for the provided.al2023
// runtime: a zip holding the binary as an executable "bootstrap" and,
// optionally, the gatekeeper's allow-list as deployer.yaml (-config) and
// more files at the top level. It replaces the zip tool so that "make
// lambda" needs only Go.
//
//	go run ./internal/tools/lambdazip -o dist/gatekeeper.zip [-config deployer.yaml] bin/linux_arm64/gatekeeper [extra files...]
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "zip file to write")
	config := flag.String("config", "", "configuration file to store as deployer.yaml, where the gatekeeper looks for it")
	flag.Parse()
	if *out == "" || flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: lambdazip -o OUT.zip [-config FILE] BINARY [EXTRA...]")
		os.Exit(64)
	}
	if err := write(*out, flag.Arg(0), *config, flag.Args()[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "lambdazip: %v\n", err)
		os.Exit(1)
	}
}

// write builds the zip beside out and renames it into place only when it
// is whole, so a failed build never leaves a package that looks
// deployable.
func write(out, binary, config string, extra []string) (err error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil { //nolint:gosec // a build output directory
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, f.Chmod(0o644), f.Close()) //nolint:gosec // a package, readable as os.Create would have made it
		if err == nil {
			err = os.Rename(f.Name(), out)
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	zw := zip.NewWriter(f)
	if err := add(zw, binary, "bootstrap", 0o755); err != nil {
		return err
	}
	if config != "" {
		if err := add(zw, config, "deployer.yaml", 0o644); err != nil {
			return err
		}
	}
	for _, p := range extra {
		if err := add(zw, p, filepath.Base(p), 0o644); err != nil {
			return err
		}
	}
	return zw.Close()
}

// add stores path as name with mode and a fixed time, so the same inputs
// make the same zip.
func add(zw *zip.Writer, path, name string, mode os.FileMode) error {
	src, err := os.Open(path) //nolint:gosec // the path is the caller's
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	return nil
}
