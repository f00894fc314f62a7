package main

import (
	"strings"
	"testing"
)

// The fakes never write to anything but loopback.
func TestCloudWatchSinkRefusesNonLoopbackEndpoints(t *testing.T) {
	for _, ep := range []string{"http://10.0.0.1:4566", "https://127.0.0.1:4566", "http://example.com", "127.0.0.1:4566", "http://[::1"} {
		if _, err := cloudWatchSink(ep, "/g", "p/"); err == nil || !strings.Contains(err.Error(), "-task-logs-endpoint") {
			t.Errorf("cloudWatchSink(%q) = %v, want refused", ep, err)
		}
	}
	for _, ep := range []string{"http://127.0.0.1:4566", "http://localhost:5000", "http://[::1]:5000"} {
		if _, err := cloudWatchSink(ep, "/g", "p/"); err != nil {
			t.Errorf("cloudWatchSink(%q): %v", ep, err)
		}
	}
}
