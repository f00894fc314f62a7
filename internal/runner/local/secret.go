package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Secret references the local backend resolves, inside the supervisor,
// just before the script runs:
//
//   - "env:NAME": the variable NAME of the supervisor's environment, which
//     it inherits from the process that called Start (the worker);
//   - "file:/abs/path": the file's contents, one trailing newline
//     trimmed.
//
// A reference that cannot be resolved fails the task with
// runner.StopFailedToStart and a reason naming the variable and the
// reference, never a value.
const (
	SecretEnvPrefix  = "env:"
	SecretFilePrefix = "file:"
)

// checkSecretRef refuses references that can never resolve.
func checkSecretRef(ref string) error {
	switch {
	case strings.HasPrefix(ref, SecretEnvPrefix):
		if name := strings.TrimPrefix(ref, SecretEnvPrefix); !envName.MatchString(name) {
			return fmt.Errorf("%q is not a valid environment variable name", name)
		}
	case strings.HasPrefix(ref, SecretFilePrefix):
		if path := strings.TrimPrefix(ref, SecretFilePrefix); !filepath.IsAbs(path) || strings.ContainsRune(path, 0) {
			return errors.New("a file reference must be an absolute path")
		}
	default:
		return errors.New(`the local backend resolves only "env:NAME" and "file:/absolute/path" references`)
	}
	return nil
}

// resolveSecret returns the value ref refers to. Its errors never contain
// the value.
func resolveSecret(ref string) (string, error) {
	if err := checkSecretRef(ref); err != nil {
		return "", err
	}
	if name, ok := strings.CutPrefix(ref, SecretEnvPrefix); ok {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set where the runner runs", name)
		}
		return v, nil
	}
	path := strings.TrimPrefix(ref, SecretFilePrefix)
	b, err := os.ReadFile(path) //nolint:gosec // a configured secret file
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("reading %s: %w", path, pe.Err)
		}
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if strings.ContainsRune(string(b), 0) {
		return "", fmt.Errorf("file %s contains a NUL byte", path)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}
