package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// Digest names the policy by its content: "sha256:" and the first 12 hex
// digits of the SHA-256 of the normalized configuration (parsed, defaults
// kept as written, map keys sorted, local.scripts_dir absolute). Two
// files that differ only in formatting, comments, key order or YAML
// against JSON have the same digest; any change of meaning changes it.
// The scripts' own content is not part of it.
func (p *Policy) Digest() string {
	sum := sha256.Sum256(p.raw)
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}

// Source is the SourceDigest of the configuration bytes the policy was
// parsed from.
func (p *Policy) Source() string { return p.source }

// Live is the policy in force while a gatekeeper serves: a holder whose
// policy Store swaps atomically, so that a reload takes effect for the
// very next request without stopping anything. It implements what the
// gatekeeper asks of a policy by delegating to the current one; a
// gatekeeper takes one snapshot (Current) per request, so that a request
// is decided and labelled under a single policy. Safe for concurrent use.
type Live struct {
	p atomic.Pointer[Policy]
}

// NewLive returns a holder of p, which must not be nil.
func NewLive(p *Policy) *Live {
	if p == nil {
		panic("policy: NewLive of a nil policy")
	}
	l := &Live{}
	l.p.Store(p)
	return l
}

// Current returns the policy in force.
func (l *Live) Current() *Policy { return l.p.Load() }

// Store puts p in force (a nil p is ignored) and returns the policy it
// replaces.
func (l *Live) Store(p *Policy) (old *Policy) {
	if p == nil {
		return l.p.Load()
	}
	return l.p.Swap(p)
}

// Resolve resolves req under the policy in force (see Policy.Resolve).
func (l *Live) Resolve(req schemas.JobRequest, caller schemas.Identity, now time.Time) (schemas.RunOrder, error) {
	return l.Current().Resolve(req, caller, now)
}

// Describe describes what caller may run under the policy in force.
func (l *Live) Describe(caller schemas.Identity) []ContainerInfo {
	return l.Current().Describe(caller)
}

// Config returns the configuration in force (see Policy.Config).
func (l *Live) Config() schemas.Config { return l.Current().Config() }

// Digest returns the digest of the policy in force.
func (l *Live) Digest() string { return l.Current().Digest() }
