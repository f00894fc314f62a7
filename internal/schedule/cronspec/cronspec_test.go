package cronspec

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, expr, tz string) Spec {
	t.Helper()
	s, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return s
}

func nexts(s Spec, from time.Time, n int) []string {
	var out []string
	for range n {
		from = s.Next(from)
		out = append(out, from.Format(time.RFC3339))
	}
	return out
}

func TestNextBerlinDST(t *testing.T) {
	spring := time.Date(2025, 3, 29, 12, 0, 0, 0, time.UTC)
	autumn := time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		expr string
		from time.Time
		want []string
	}{
		// 02:00 does not exist on 30 March: due when the gap ends, 03:00 CEST.
		{"0 2 * * *", spring, []string{"2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00"}},
		{"30 2 * * *", spring, []string{"2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"}},
		// Two wall times in the gap are one fire.
		{"0,30 2 * * *", spring, []string{"2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00"}},
		{"0 3 * * *", spring, []string{"2025-03-30T03:00:00+02:00", "2025-03-31T03:00:00+02:00"}},
		// 02:30 happens twice on 26 October: due at the first only.
		{"30 2 * * *", autumn, []string{"2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"}},
		{"0 * * * *", time.Date(2025, 10, 25, 23, 30, 0, 0, time.UTC), []string{
			"2025-10-26T02:00:00+02:00", "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00"}},
		{"0 2 * * *", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), []string{"2025-01-01T02:00:00+01:00", "2025-01-02T02:00:00+01:00"}},
	}
	for _, tt := range tests {
		got := nexts(mustParse(t, tt.expr, "Europe/Berlin"), tt.from, len(tt.want))
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q from %s: got %v, want %v", tt.expr, tt.from, got, tt.want)
		}
	}
}

func TestNextFromInsideRepeatedHour(t *testing.T) {
	s := mustParse(t, "30 2 * * *", "Europe/Berlin")
	// 02:15 CET, the second pass: 02:30's first occurrence has passed.
	from := time.Date(2025, 10, 26, 1, 15, 0, 0, time.UTC)
	if got := s.Next(from).Format(time.RFC3339); got != "2025-10-27T02:30:00+01:00" {
		t.Errorf("Next = %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, tz, want string }{
		{"0 2 * *", "", "has 4 fields"},
		{"0 0 2 * * *", "", "has 6 fields"},
		{"@daily", "", "has 1 fields"},
		{"61 * * * *", "", "cron expression"},
		{"0 2 * * *", "Mars/Olympus", "not an IANA time zone"},
		{"0 2 * * *", "Local", "depends on the host"},
		{"0 0 30 2 *", "", "never matches"},
		{"CRON_TZ=UTC 0 * * *", "", "not allowed"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr, tt.tz)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q) = %v, want an error containing %q", tt.expr, tt.tz, err, tt.want)
		}
	}
}

func TestSecondsOnlyInTestMode(t *testing.T) {
	if _, err := Parse("*/2 * * * * *", ""); err == nil {
		t.Fatal("6 fields accepted without " + SecondsEnv)
	}
	t.Setenv(SecondsEnv, "1")
	s := mustParse(t, "*/2 * * * * *", "")
	from := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)
	if got := s.Next(from); !got.Equal(from.Add(time.Second)) {
		t.Errorf("Next = %s", got)
	}
	mustParse(t, "0 2 * * *", "") // 5 fields still read as minutes
}

func TestLatest(t *testing.T) {
	now := time.Date(2025, 6, 10, 12, 34, 0, 0, time.UTC)
	tests := []struct {
		expr  string
		after time.Time
		want  string // "" for none
	}{
		{"* * * * *", now.Add(-3 * time.Hour), "2025-06-10T12:34:00Z"},
		{"0 2 * * *", now.Add(-30 * 24 * time.Hour), "2025-06-10T02:00:00Z"},
		{"0 2 * * *", time.Date(2025, 6, 10, 2, 0, 0, 0, time.UTC), ""},
		{"0 0 1 1 *", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "2025-01-01T00:00:00Z"},
		{"0 0 1 1 *", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, tt := range tests {
		got, ok := mustParse(t, tt.expr, "UTC").Latest(tt.after, now)
		s := ""
		if ok {
			s = got.UTC().Format(time.RFC3339)
		}
		if s != tt.want {
			t.Errorf("Latest(%q, after %s) = %q, want %q", tt.expr, tt.after, s, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "*/5 1-3 * JAN-MAR MON,FRI", "61 * * * *", "0 0 30 2 *", "? ? ? ? ?", "H * * * *"} {
		f.Add(s, "Europe/Berlin")
	}
	from := time.Date(2025, 3, 29, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := Parse(expr, tz)
		if err != nil {
			return
		}
		prev := from
		for range 3 {
			n := s.Next(prev)
			if n.IsZero() {
				return
			}
			if !n.After(prev) {
				t.Fatalf("%q in %q: Next(%s) = %s, not after", expr, tz, prev, n)
			}
			prev = n
		}
	})
}
