// Package example holds the built-in example configuration and its
// scripts, embedded in the deployer binary so that a fresh clone can run a
// job with no configuration at all.
package example

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed deployer.yaml batch.yaml scripts
var files embed.FS

// ConfigFile is the configuration's name inside the directory Install
// writes.
const ConfigFile = "deployer.yaml"

// Install writes the example configuration and scripts under dir (replacing
// earlier copies, so they always match this binary) and returns the
// configuration's path.
func Install(dir string) (string, error) {
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		data, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if filepath.Base(filepath.Dir(target)) == "scripts" {
			mode = 0o755
		}
		return writeFile(target, data, mode)
	})
	if err != nil {
		return "", fmt.Errorf("installing the example configuration in %s: %w", dir, err)
	}
	return filepath.Join(dir, ConfigFile), nil
}

// Digest names this binary's example: the sha256 of its files' names and
// contents, so that what is keyed on the example (completions' cache)
// changes when the example does.
func Digest() string {
	h := sha256.New()
	_ = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(h, "%s %d\n", path, len(data))
		_, _ = h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// writeFile replaces target atomically, so a script is never seen half
// written by a concurrent run.
func writeFile(target string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(target); /* #nosec G304 -- our own install path */ err == nil && string(old) == string(data) {
		return os.Chmod(target, mode)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
