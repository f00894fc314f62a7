package task

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrScript means the script named cannot run: its name is not a plain
// file name, or no executable regular file of that name is in the scripts
// directory.
var ErrScript = errors.New("script refused")

// CheckScriptName refuses a script name that is not a plain file name:
// empty, ".", "..", or holding '/', '\' or NUL.
func CheckScriptName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the script name is empty", ErrScript)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not a file name", ErrScript, name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("%w: %q is not a plain file name (no '/', '\\' or NUL)", ErrScript, name)
	}
	return nil
}

// ResolveScript returns the path of the executable that runs script: the
// file of that name directly inside dir, with symbolic links resolved. It
// refuses a name that is not a plain file name, a link that leads out of
// dir, and anything but an executable regular file. dir must be absolute.
func ResolveScript(dir, script string) (string, error) {
	if err := CheckScriptName(script); err != nil {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%w: the scripts directory %q is not an absolute path", ErrScript, dir)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("%w: scripts directory %s: %w", ErrScript, dir, unwrapPath(err))
	}
	path, err := filepath.EvalSymlinks(filepath.Join(root, script))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrScript, filepath.Join(dir, script), unwrapPath(err))
	}
	if rel, err := filepath.Rel(root, path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: %s leads out of the scripts directory %s", ErrScript, script, dir)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrScript, filepath.Join(dir, script), unwrapPath(err))
	}
	switch {
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%w: %s is not a regular file", ErrScript, filepath.Join(dir, script))
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%w: %s is not executable", ErrScript, filepath.Join(dir, script))
	}
	return path, nil
}

// unwrapPath drops the path an fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
