package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/test/awsfake"
)

// faults injects server-side failures into every service the fakes host:
// rates are probabilities per request. Throttling and server errors are
// answered in the service's own error shape instead of calling the
// operation; a reset-after runs the operation and then drops the
// connection without answering (TCP RST), so the caller cannot know that
// the call happened — the case ECS clientToken, idempotent deletes and
// event ids exist for. It is safe for concurrent use.
type faults struct {
	throttle, serverErrors, resetAfter float64
	latency                            time.Duration
	// except are operations ("AmazonSQS.ReceiveMessage") never faulted.
	except map[string]bool
	// noResetAfter are operations never reset after being served, each
	// with the substrings of which the request body must hold one for
	// that (none: every request of the operation).
	noResetAfter map[string][]string

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
}

func newFaults(throttle, serverErrors, resetAfter float64, latency time.Duration, except, noResetAfter string, seed uint64) (*faults, error) {
	for name, p := range map[string]float64{"-throttle": throttle, "-server-errors": serverErrors, "-reset-after": resetAfter} {
		if p < 0 || p > 1 {
			return nil, fmt.Errorf("%s %v: want a probability between 0 and 1", name, p)
		}
	}
	if latency < 0 {
		return nil, fmt.Errorf("-latency %s: must not be negative", latency)
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed, not a secret
	}
	f := &faults{
		throttle: throttle, serverErrors: serverErrors, resetAfter: resetAfter, latency: latency,
		except: map[string]bool{}, noResetAfter: map[string][]string{},
		rng:    rand.New(rand.NewPCG(seed, seed>>1|1)), //nolint:gosec // fault injection needs no cryptographic randomness
		counts: map[string]int{},
	}
	for _, op := range strings.Split(except, ",") {
		if op = strings.TrimSpace(op); op != "" {
			f.except[op] = true
		}
	}
	for _, op := range strings.Split(noResetAfter, ",") {
		target, sub, _ := strings.Cut(strings.TrimSpace(op), "/")
		if target != "" {
			f.noResetAfter[target] = append(f.noResetAfter[target], sub)
		}
	}
	return f, nil
}

// spared says whether a request to target with body is never to be reset
// after being served.
func (f *faults) spared(target string, body []byte) bool {
	for _, sub := range f.noResetAfter[target] {
		if sub == "" || bytes.Contains(body, []byte(sub)) {
			return true
		}
	}
	return false
}

// roll says whether a fault of kind happens, with probability p, and
// counts it.
func (f *faults) roll(p float64, kind, target string) bool {
	if p <= 0 || f.except[target] {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= p {
		return false
	}
	f.counts[kind]++
	return true
}

// hook is the awsfake.Server hook: throttling and server errors.
func (f *faults) hook(target string, _ []byte) error {
	switch {
	case f.roll(f.throttle, "throttle", target):
		return &awsfake.Error{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
	case f.roll(f.serverErrors, "server_error", target):
		return &awsfake.Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "injected server error"}
	}
	return nil
}

// wrap adds latency and resets after the request was served to next.
func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if f.latency > 0 && !f.except[target] {
			f.mu.Lock()
			d := time.Duration(f.rng.Int64N(int64(f.latency)))
			f.mu.Unlock()
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		hj, ok := w.(http.Hijacker)
		if len(f.noResetAfter[target]) > 0 {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			ok = ok && !f.spared(target, body)
		}
		if !ok || !f.roll(f.resetAfter, "reset_after", target) {
			next.ServeHTTP(w, r)
			return
		}
		// Serve in full, then drop the connection instead of answering.
		// The operation must not see the request's context cancelled by
		// the hijack, so it runs on a detached one.
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST: a reset, not a clean EOF
		}
		_ = conn.Close()
	})
}

// String is the counts, "reset_after=3 server_error=5 throttle=4".
func (f *faults) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	kinds := make([]string, 0, len(f.counts))
	for k := range f.counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds)+1)
	total := 0
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, f.counts[k]))
		total += f.counts[k]
	}
	return fmt.Sprintf("total=%d %s", total, strings.Join(parts, " "))
}
