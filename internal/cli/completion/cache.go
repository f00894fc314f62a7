package completion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/deployerhq/deployer/internal/cli/describe"
	"github.com/deployerhq/deployer/internal/cli/example"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/schemas"
)

// How long an answer of describe stays in the cache; a failure is
// remembered less long, so that a burst of TABs against a gatekeeper
// that does not answer sends one describe request, not one per TAB.
const (
	CacheTTL   = time.Minute
	failureTTL = 10 * time.Second
	// maxCacheFile bounds what is read back.
	maxCacheFile = 4 << 20
)

// clock is what cache entries are dated with; tests replace it.
var clock = time.Now

// errCachedFailure reports a recent failure remembered by the cache.
var errCachedFailure = errors.New("completion: describe failed a moment ago")

// entry is one cached answer of describe.
type entry struct {
	Written    time.Time               `json:"written"`
	Failed     bool                    `json:"failed,omitempty"`
	Containers []schemas.ContainerInfo `json:"containers,omitempty"`
}

// fresh reports whether e may still be used at now.
func (e entry) fresh(now time.Time) bool {
	ttl := CacheTTL
	if e.Failed {
		ttl = failureTTL
	}
	// An entry from the future (a clock set back) is not trusted.
	return !e.Written.After(now.Add(time.Second)) && now.Sub(e.Written) < ttl
}

// containers returns what the caller may run, from the cache when a
// fresh answer is there, else from describe.Describe (the configuration
// on the embedded backend, the gatekeeper on AWS), caching the answer.
func (c *completer) containers(ctx context.Context) ([]schemas.ContainerInfo, error) {
	path, keyErr := c.cachePath()
	if keyErr == nil {
		if e, ok := readEntry(path); ok && e.fresh(clock()) {
			if e.Failed {
				return nil, errCachedFailure
			}
			return e.Containers, nil
		}
	}
	a, err := describe.Describe(ctx, c.f)
	if keyErr == nil {
		e := entry{Written: clock(), Failed: err != nil}
		if err == nil {
			e.Containers = trim(a.Containers)
		}
		writeEntry(path, e)
	}
	if err != nil {
		return nil, err
	}
	return a.Containers, nil
}

// rememberFailure caches a failure of describe that bounded gave up on,
// unless an answer got there first.
func (c *completer) rememberFailure() {
	path, err := c.cachePath()
	if err != nil {
		return
	}
	if e, ok := readEntry(path); ok && e.fresh(clock()) {
		return
	}
	writeEntry(path, entry{Written: clock(), Failed: true})
}

// trim keeps of infos what completions use: names, descriptions, lanes
// and argument policies, not images, environment or secret names.
func trim(infos []schemas.ContainerInfo) []schemas.ContainerInfo {
	out := make([]schemas.ContainerInfo, 0, len(infos))
	for _, c := range infos {
		out = append(out, schemas.ContainerInfo{Name: c.Name, Description: c.Description, Lane: c.Lane, LaneLimit: c.LaneLimit, Scripts: c.Scripts})
	}
	return out
}

// cacheDir is deployer's directory in the user's cache directory:
// $XDG_CACHE_HOME/deployer, else os.UserCacheDir()'s.
func (c *completer) cacheDir() (string, error) {
	if x := c.f.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "deployer"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "deployer"), nil
}

// cachePath is the cache file of the answer the command line's settings
// would get: its name digests the backend and where it is (the state
// directory; the AWS region, prefix, endpoint and whose credentials), and
// the configuration in force on the embedded backend (the file given,
// or those the serving "deployer up"s enforce, or the built-in example),
// so that an answer never stands for another setting's.
func (c *completer) cachePath() (string, error) {
	dir, err := c.cacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := c.key(h); err != nil {
		return "", err
	}
	return filepath.Join(dir, "describe-"+hex.EncodeToString(h.Sum(nil))[:32]+".json"), nil
}

func (c *completer) key(h hash.Hash) error {
	f := c.f
	name, err := f.ResolveBackend()
	if err != nil {
		return err
	}
	put := func(parts ...string) {
		for _, p := range parts {
			_, _ = fmt.Fprintf(h, "%d:%s;", len(p), p)
		}
	}
	put("describe/v1", f.ProgramName(), name, factory.CurrentUser())
	if explicit := f.ExplicitConfigPath(); explicit != "" {
		put("config", absPath(explicit), fileDigest(explicit))
	}
	if name == factory.BackendAWS {
		region, prefix := f.AWSLocation()
		put("aws", region, prefix)
		for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
			"AWS_ROLE_ARN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"} {
			put(k, f.Getenv(k))
		}
		return nil
	}
	dir, err := f.ResolveStateDir()
	if err != nil {
		return err
	}
	put("embedded", dir)
	served, err := f.ServedConfigs()
	if err != nil {
		return err
	}
	for _, s := range served {
		put("served", fmt.Sprint(s.PID), s.Config, s.PolicyDigest, fileDigest(s.Config))
	}
	if f.ExplicitConfigPath() == "" && len(served) == 0 {
		put("example", example.Digest())
	}
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// fileDigest is the sha256 of the file at path, or why it has none.
func fileDigest(path string) string {
	fh, err := os.Open(path) //nolint:gosec // the configuration the command line names
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer func() { _ = fh.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "unreadable: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readEntry reads the cache file at path; anything but a regular file
// holding an entry is no entry.
func readEntry(path string) (entry, bool) {
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxCacheFile {
		return entry{}, false
	}
	data, err := os.ReadFile(path) //nolint:gosec // our cache file
	if err != nil {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal(data, &e) != nil || e.Written.IsZero() {
		return entry{}, false
	}
	return e, true
}

// writeEntry replaces the cache file at path atomically (a temporary
// file renamed over it), readable by this user only, in a directory only
// this user may enter. A cache that cannot be written is no cache.
func writeEntry(path string, e entry) {
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // a directory: 0700 lets only this user in
		return
	}
	tmp, err := os.CreateTemp(dir, ".describe-*")
	if err != nil {
		return
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return
	}
	if err := tmp.Close(); err != nil {
		return
	}
	_ = os.Rename(tmp.Name(), path)
}
