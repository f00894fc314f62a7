// Package secretproc resolves a task's Secrets Manager and SSM secret
// references in a helper process, so that the process that supervises
// the task links no AWS SDK client: the SDK's package init costs every
// process that links it milliseconds and megabytes before main, for every
// task, and most tasks name no such secret (docs/performance.md, twelfth
// round). env: and file: references, and every environment that names no
// AWS secret, are resolved in the calling process; a task that names one
// starts the helper once, which resolves its whole environment.
//
// The helper is deployer-aws's hidden command Command ("deployer-aws
// __secrets"), beside the supervisor. It reads one JSON request on stdin,
// {"environ": [...]}, resolves it with a secret.Resolver that reads AWS
// (Serve), writes one JSON reply on stdout, {"environ": [...]} or
// {"error": "..."}, and exits. The values cross the pipe between the two
// processes only; errors never hold one (package secret's guarantee).
package secretproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/deployerhq/deployer/internal/companion"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secretref"
)

// Command is the helper's hidden command.
const Command = "__secrets"

// maxMessage bounds a request or a reply: a whole task environment, each
// value at most secret.MaxValueLen.
const maxMessage = 64 << 20

// maxStderr bounds what of the helper's stderr an error repeats.
const maxStderr = 4 << 10

// Environer resolves the secret references of an environment: a
// *secret.Resolver, a *Resolver, a task.Secrets.
type Environer interface {
	Environ(ctx context.Context, environ []string) ([]string, error)
}

// request and reply are the protocol's messages.
type (
	request struct {
		Environ []string `json:"environ"`
	}
	reply struct {
		Environ []string `json:"environ"` // null with an error
		Error   string   `json:"error,omitempty"`
	}
)

// Resolver is a task.Secrets that resolves Secrets Manager and SSM
// references in the helper Helper names, and everything else itself.
type Resolver struct {
	// Helper returns the helper's command line (deployer-aws __secrets),
	// or why there is none. It is called only for an environment that
	// names a Secrets Manager or SSM secret.
	Helper func() ([]string, error)
	// Local resolves the environments that name no AWS secret (its zero
	// value resolves env: and file: references).
	Local secret.Resolver
}

// Environ implements task.Secrets: as secret.Resolver.Environ, with the
// environment resolved by the helper when it names a Secrets Manager or
// SSM secret. The helper's errors are returned as it worded them.
func (r *Resolver) Environ(ctx context.Context, environ []string) ([]string, error) {
	names := namesAWS(environ)
	if len(names) == 0 {
		return r.Local.Environ(ctx, environ)
	}
	argv, err := r.Helper()
	if err != nil {
		what := names[0] + " names a Secrets Manager or SSM secret"
		if len(names) > 1 {
			what = strings.Join(names, ", ") + " name Secrets Manager or SSM secrets"
		}
		return nil, fmt.Errorf("%s, which %s reads for this task: %w", what, companion.AWS, err)
	}
	in, err := json.Marshal(request{Environ: environ})
	if err != nil {
		return nil, fmt.Errorf("encoding the secrets request: %w", err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the helper of this build, beside this binary
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout = &capped{b: &out, n: maxMessage}
	cmd.Stderr = &capped{b: &stderr, n: maxStderr}
	runErr := cmd.Run()
	var rep reply
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || (rep.Error == "" && rep.Environ == nil) {
		why := runErr
		if why == nil {
			why = fmt.Errorf("no reply (%d bytes of output)", out.Len())
		}
		return nil, fmt.Errorf("resolving the task's secrets with %s: %w%s", argv[0], why, stderrOf(&stderr))
	}
	if rep.Error != "" {
		return nil, errors.New(rep.Error)
	}
	return rep.Environ, nil
}

// Beside returns a Resolver.Helper that runs the helper beside the binary
// exe: deployer-aws of exe's build, in exe's directory.
func Beside(exe string) func() ([]string, error) {
	return func() ([]string, error) {
		path, err := companion.Find(exe, companion.AWS, companion.AWSPackage)
		if err != nil {
			return nil, fmt.Errorf("%w; install %s of the same build next to %s (make build puts them all in bin/)", err, companion.AWS, exe)
		}
		return []string{path, Command}, nil
	}
}

// BesideExecutable returns a Resolver whose helper is deployer-aws
// beside the running binary (Beside of os.Executable).
func BesideExecutable() *Resolver {
	exe, err := os.Executable()
	if err != nil {
		return &Resolver{Helper: func() ([]string, error) {
			return nil, fmt.Errorf("locating this binary, beside which %s lies: %w", companion.AWS, err)
		}}
	}
	return &Resolver{Helper: Beside(exe)}
}

// namesAWS returns the variables of environ that hold a secret reference
// to Secrets Manager or SSM, sorted, each once.
func namesAWS(environ []string) []string {
	var names []string
	for _, kv := range environ {
		k, ref, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, secretref.VarPrefix) || slices.Contains(names, k) {
			continue
		}
		if secretref.ReadsAWS(ref) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// Serve answers one request of a Resolver, read from in, on out, with r
// (a secret.Resolver that reads AWS). A resolution that fails is a reply
// too; the error is only for a request it cannot read or a reply it
// cannot write.
func Serve(ctx context.Context, in io.Reader, out io.Writer, r Environer) error {
	data, err := io.ReadAll(io.LimitReader(in, maxMessage+1))
	if err != nil {
		return fmt.Errorf("reading the secrets request: %w", err)
	}
	if len(data) > maxMessage {
		return fmt.Errorf("the secrets request is over %d bytes", maxMessage)
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("decoding the secrets request: %w", err)
	}
	var rep reply
	env, err := r.Environ(ctx, req.Environ)
	if err != nil {
		rep.Error = err.Error()
	} else {
		rep.Environ = env
		if rep.Environ == nil {
			rep.Environ = []string{}
		}
	}
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		return fmt.Errorf("writing the secrets reply: %w", err)
	}
	return nil
}

// capped is a writer that keeps the first n bytes written to it and
// drops the rest, so that a helper gone wrong cannot fill the memory.
type capped struct {
	b *bytes.Buffer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// stderrOf is "; it said: " and the helper's stderr, trimmed, when it
// wrote some; "" otherwise.
func stderrOf(b *bytes.Buffer) string {
	if s := strings.TrimSpace(b.String()); s != "" {
		return "; it said: " + s
	}
	return ""
}
