package awsx

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FaultTransport injects AWS failures into the requests it forwards, for
// fault tests of the adapters: throttling answers, 5xx answers, connection
// resets before or after the request reached the server, answers cut off
// while they are read, and latency.
// Rates are probabilities per request. It is safe for concurrent use.
type FaultTransport struct {
	// Next does the requests that are let through. Defaults to
	// http.DefaultTransport.
	Next http.RoundTripper
	// Throttle answers 400 ThrottlingException (JSON protocols) without
	// forwarding.
	Throttle float64
	// ServerError answers 500 InternalFailure without forwarding.
	ServerError float64
	// ResetBefore fails with ECONNRESET without forwarding.
	ResetBefore float64
	// ResetAfter forwards the request, then fails with ECONNRESET instead
	// of returning the answer: the call happened but the caller does not
	// know it (the case idempotency tokens exist for).
	ResetAfter float64
	// CutAnswer forwards the request, then returns the answer with its
	// body cut off half way (the rest of it reads as io.ErrUnexpectedEOF):
	// a connection lost while the answer was read.
	CutAnswer float64
	// Latency is added to every request, up to this much (uniform).
	Latency time.Duration
	// Only, when set, limits the faults to these operations (see
	// Operation); others pass untouched.
	Only []string
	// Seed makes the faults repeatable. Zero seeds from the clock.
	Seed uint64
	// FirstOfEach injects one fault of each kind whose rate is set, in
	// turn, on the first requests that apply, before the rates take
	// over: a test that checks every kind was absorbed does not then
	// depend on chance. Only a call's first attempt is forced (a retry
	// says its attempt in the SDK's Amz-Sdk-Request header), so that no
	// call meets more than one forced fault, however calls interleave.
	FirstOfEach bool

	once   sync.Once
	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
	owed   []string // kinds FirstOfEach has still to inject, in order
}

// Faults returns how many faults of each kind were injected.
func (f *FaultTransport) Faults() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Missing returns the kinds whose rate is set that were never injected,
// for a test to check that it proved something.
func (f *FaultTransport) Missing() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, k := range f.kinds() {
		if f.counts[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

// kinds returns the kinds whose rate is set.
func (f *FaultTransport) kinds() []string {
	var out []string
	for _, k := range []struct {
		p    float64
		kind string
	}{{f.Throttle, faultThrottle}, {f.ServerError, faultServerError}, {f.ResetBefore, faultResetBefore}, {f.ResetAfter, faultResetAfter}, {f.CutAnswer, faultCutAnswer}} {
		if k.p > 0 {
			out = append(out, k.kind)
		}
	}
	return out
}

// Fault kinds, as Faults counts them.
const (
	faultThrottle    = "throttle"
	faultServerError = "server_error"
	faultResetBefore = "reset_before"
	faultResetAfter  = "reset_after"
	faultCutAnswer   = "cut_answer"
)

// forced returns the kind FirstOfEach owes req, or "" when the rates
// decide.
func (f *FaultTransport) forced(req *http.Request) string {
	if isRetry(req) {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.owed) == 0 {
		return ""
	}
	k := f.owed[0]
	f.owed = f.owed[1:]
	return k
}

// isRetry reports whether req is a retry of a call, by the attempt the
// SDK's retryer puts in its Amz-Sdk-Request header ("attempt=2; max=5").
func isRetry(req *http.Request) bool {
	attempt, _, _ := strings.Cut(req.Header.Get("Amz-Sdk-Request"), ";")
	n, ok := strings.CutPrefix(strings.TrimSpace(attempt), "attempt=")
	return ok && n != "1"
}

// owe puts back a kind FirstOfEach could not inject (the request failed
// before its answer could be dropped).
func (f *FaultTransport) owe(kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owed = append([]string{kind}, f.owed...)
}

// fault reports whether to inject kind into this request: the kind
// forced, when FirstOfEach forced one, else a roll at rate p.
func (f *FaultTransport) fault(kind, forced string, p float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case forced != "" && forced != kind:
		return false
	case forced == "" && (p <= 0 || f.rng.Float64() >= p):
		return false
	}
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[kind]++
	return true
}

// RoundTrip forwards req, or fails it as the rates say.
func (f *FaultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.once.Do(func() {
		seed := f.Seed
		if seed == 0 {
			seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed, not a secret
		}
		f.rng = rand.New(rand.NewPCG(seed, seed>>1|1)) //nolint:gosec // fault injection needs no cryptographic randomness
		if f.FirstOfEach {
			f.owed = f.kinds()
		}
	})
	next := f.Next
	if next == nil {
		next = http.DefaultTransport
	}
	if !f.applies(req) {
		return next.RoundTrip(req)
	}
	if f.Latency > 0 {
		f.mu.Lock()
		d := time.Duration(f.rng.Int64N(int64(f.Latency)))
		f.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
	}
	forced := f.forced(req)
	switch {
	case f.fault(faultThrottle, forced, f.Throttle):
		return answer(req, http.StatusBadRequest, "ThrottlingException", "Rate exceeded"), nil
	case f.fault(faultServerError, forced, f.ServerError):
		return answer(req, http.StatusInternalServerError, "InternalFailure", "injected server error"), nil
	case f.fault(faultResetBefore, forced, f.ResetBefore):
		return nil, fmt.Errorf("injected fault before %s: %w", Operation(req), syscall.ECONNRESET)
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		if forced == faultResetAfter || forced == faultCutAnswer {
			f.owe(forced)
		}
		return nil, err
	}
	switch {
	case f.fault(faultResetAfter, forced, f.ResetAfter):
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return nil, fmt.Errorf("injected fault after %s: %w", Operation(req), syscall.ECONNRESET)
	case f.fault(faultCutAnswer, forced, f.CutAnswer):
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), cutReader{}))
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return resp, nil
}

// cutReader is the rest of an answer cut off.
type cutReader struct{}

func (cutReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func (f *FaultTransport) applies(req *http.Request) bool {
	if len(f.Only) == 0 {
		return true
	}
	op := Operation(req)
	for _, o := range f.Only {
		if o == op {
			return true
		}
	}
	return false
}

// answer is an AWS JSON-protocol error response (awsJson1_0/1_1: the code
// in __type and in the x-amzn-query-error header for SQS).
func answer(req *http.Request, status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Errortype", code)
	h.Set("X-Amzn-Query-Error", code+";Sender")
	h.Set("X-Amzn-Requestid", "fault-injected")
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
