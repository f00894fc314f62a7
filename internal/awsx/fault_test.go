package awsx_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/deployerhq/deployer/internal/awsx"
)

// TestFirstOfEach: with FirstOfEach, the first calls get a throttle, a
// 500, a reset before and a reset after the server answered, and an
// answer cut off half way, in that order, whatever the rates; the calls after them pass. A retry (an
// attempt after the first, as the SDK's header says) is never forced, so
// no call meets two forced faults. A kind whose rate is zero is never
// injected.
func TestFirstOfEach(t *testing.T) {
	const first, second = "attempt=1; max=5", "attempt=2; max=5"
	for _, c := range []struct {
		name     string
		ft       *awsx.FaultTransport
		attempts []string // per request: its Amz-Sdk-Request header
		want     []string // per request: the fault, or "" for none
	}{
		{
			name:     "every kind",
			ft:       &awsx.FaultTransport{Throttle: 1e-12, ServerError: 1e-12, ResetBefore: 1e-12, ResetAfter: 1e-12, CutAnswer: 1e-12, FirstOfEach: true},
			attempts: []string{first, first, first, first, first, first, first},
			want:     []string{"throttle", "server_error", "reset_before", "reset_after", "cut_answer", "", ""},
		},
		{
			name:     "retries are not forced",
			ft:       &awsx.FaultTransport{Throttle: 1e-12, ServerError: 1e-12, FirstOfEach: true},
			attempts: []string{first, second, second, first, second, "", ""},
			want:     []string{"throttle", "", "", "server_error", "", "", ""},
		},
		{
			name:     "only the kinds with a rate",
			ft:       &awsx.FaultTransport{ServerError: 1e-12, ResetAfter: 1e-12, FirstOfEach: true},
			attempts: []string{"", "", "", ""},
			want:     []string{"server_error", "reset_after", "", ""},
		},
		{
			name:     "off",
			ft:       &awsx.FaultTransport{Throttle: 1e-12, ResetAfter: 1e-12},
			attempts: []string{first, first, first, first},
			want:     []string{"", "", "", ""},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reached atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				reached.Add(1)
				_, _ = w.Write([]byte(`{"Messages":[]}`))
			}))
			defer srv.Close()
			c.ft.Next = srv.Client().Transport
			hc := &http.Client{Transport: c.ft}
			var wantReached int64
			for i, want := range c.want {
				before := reached.Load()
				got := fault(t, hc, srv.URL, c.attempts[i])
				if got != want {
					t.Fatalf("request %d: fault %q, want %q", i+1, got, want)
				}
				served := want == "" || want == "reset_after" || want == "cut_answer"
				if served {
					wantReached++
				}
				if forwarded := reached.Load() - before; forwarded != 0 && !served {
					t.Fatalf("request %d: a %s fault was forwarded to the server", i+1, want)
				}
			}
			if reached.Load() != wantReached {
				t.Errorf("the server saw %d requests, want %d", reached.Load(), wantReached)
			}
			counts := c.ft.Faults()
			for _, k := range c.want {
				if k != "" && counts[k] != 1 {
					t.Errorf("Faults()[%q] = %d, want 1 (all: %v)", k, counts[k], counts)
				}
			}
		})
	}
}

// fault sends one request, with attempt as its Amz-Sdk-Request header
// (none when empty), and names the fault it met, or "".
func fault(t *testing.T, hc *http.Client, url, attempt string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	if attempt != "" {
		req.Header.Set("Amz-Sdk-Request", attempt)
	}
	resp, err := hc.Do(req)
	switch {
	case errors.Is(err, syscall.ECONNRESET) && strings.Contains(err.Error(), "injected fault before"):
		return "reset_before"
	case errors.Is(err, syscall.ECONNRESET) && strings.Contains(err.Error(), "injected fault after"):
		return "reset_after"
	case err != nil:
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK && errors.Is(err, io.ErrUnexpectedEOF) && string(body) == `{"Messa`:
		return "cut_answer"
	case err != nil:
		t.Fatalf("reading the answer: %v", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if string(body) != `{"Messages":[]}` {
			t.Fatalf("answer %q, want the server's", body)
		}
		return ""
	case http.StatusBadRequest:
		return "throttle"
	case http.StatusInternalServerError:
		return "server_error"
	}
	t.Fatalf("unexpected answer %s", resp.Status)
	return ""
}
