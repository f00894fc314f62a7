// Package cronspec parses the cron expressions of schedules and computes
// their due times in a time zone. It is small and imports nothing of the
// project, so the configuration loader and the scheduler read a schedule
// the same way.
//
// An expression has 5 fields: minute, hour, day of month, month, day of
// week (names such as MON and JAN, ranges, lists and steps allowed, no
// descriptors such as @daily, no CRON_TZ= prefix: the time zone is a
// field of its own). Times are read in the schedule's zone: a time that a
// daylight saving change skips runs at the first time after the gap, and
// a time the change repeats runs once.
package cronspec

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// SecondsEnv is the variable that, set to "1", makes Parse take a sixth, leading seconds
// field. It exists for end-to-end tests, which cannot wait minutes for a
// due time; it is not a supported setting.
const SecondsEnv = "DEPLOYER_TEST_SCHEDULE_SECONDS"

// Spec is a parsed expression in its time zone.
type Spec struct {
	sched cron.Schedule
	loc   *time.Location
	expr  string
}

var (
	minutes = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	seconds = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
)

// Parse reads expr in the IANA time zone tz ("" is UTC).
func Parse(expr, tz string) (Spec, error) {
	loc, err := LoadZone(tz)
	if err != nil {
		return Spec{}, err
	}
	fields := strings.Fields(expr)
	want := 5
	p := minutes
	if os.Getenv(SecondsEnv) == "1" && len(fields) == 6 {
		want, p = 6, seconds
	}
	if len(fields) != want {
		return Spec{}, fmt.Errorf("cron expression %q has %d fields; want 5 (minute hour day-of-month month day-of-week)", expr, len(fields))
	}
	for _, f := range fields {
		if strings.ContainsAny(f, "=@") {
			return Spec{}, fmt.Errorf("cron expression %q: field %q: descriptors and time zone prefixes are not allowed (set time_zone)", expr, f)
		}
	}
	s, err := p.Parse(strings.Join(fields, " "))
	if err != nil {
		return Spec{}, fmt.Errorf("cron expression %q: %w", expr, err)
	}
	sp := Spec{sched: s, loc: loc, expr: expr}
	// An expression that never matches (30 February) would make Next
	// search for years and answer nothing.
	if sp.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Spec{}, fmt.Errorf("cron expression %q never matches a date", expr)
	}
	return sp, nil
}

// LoadZone loads an IANA time zone; "" is UTC. Binaries import
// time/tzdata, so zones load on hosts without a zoneinfo database.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	// time.LoadLocation accepts "Local", which differs per host.
	if tz == "Local" {
		return nil, errors.New(`time zone "Local" depends on the host; name an IANA zone such as "Europe/Berlin"`)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone (e.g. \"Europe/Berlin\", \"UTC\"): %w", tz, err)
	}
	return loc, nil
}

// Next returns the first due time strictly after t, in the spec's zone,
// or the zero time when there is none within five years.
//
// The expression is matched against wall-clock times: a matching wall
// time a daylight saving change skips is due when the gap ends, and one
// the change repeats is due at its first occurrence only.
func (s Spec) Next(t time.Time) time.Time {
	lt := t.In(s.loc)
	wall := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), time.UTC)
	for range 1000 {
		w := s.sched.Next(wall)
		if w.IsZero() {
			return w
		}
		if r := s.instant(w); r.After(t) {
			return r
		}
		wall = w
	}
	return time.Time{}
}

// instant is the first instant whose wall clock in the spec's zone reads
// w (given in UTC), or, when a gap skips w, the instant the gap ends.
func (s Spec) instant(w time.Time) time.Time {
	var first time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 12 * time.Hour} {
		_, off := w.Add(probe).In(s.loc).Zone()
		r := w.Add(-time.Duration(off) * time.Second).In(s.loc)
		if sameWall(r, w) && (first.IsZero() || r.Before(first)) {
			first = r
		}
	}
	if !first.IsZero() {
		return first
	}
	// In a gap: the zone in effect after it starts where the gap ends.
	r := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), s.loc)
	start, _ := r.ZoneBounds()
	if start.IsZero() || start.Before(r.Add(-24*time.Hour)) {
		return r
	}
	return start.In(s.loc)
}

func sameWall(r, w time.Time) bool {
	y, mo, d := r.Date()
	h, mi, sec := r.Clock()
	wy, wmo, wd := w.Date()
	wh, wmi, wsec := w.Clock()
	return y == wy && mo == wmo && d == wd && h == wh && mi == wmi && sec == wsec
}

// Location is the spec's time zone.
func (s Spec) Location() *time.Location { return s.loc }

// String is the expression as written.
func (s Spec) String() string { return s.expr }

// windows are how far back Latest looks, widening: the first that holds a
// due time bounds the walk, so a frequent schedule walks a minute and a
// yearly one a year, never millions of steps.
var windows = []time.Duration{
	time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour,
}

// Latest returns the last due time in (after, now], or false when there
// is none.
func (s Spec) Latest(after, now time.Time) (time.Time, bool) {
	if !now.After(after) {
		return time.Time{}, false
	}
	var from time.Time
	for _, w := range windows {
		from = now.Add(-w)
		if from.Before(after) {
			from = after
		}
		if n := s.Next(from); !n.IsZero() && !n.After(now) {
			break
		}
		if from.Equal(after) {
			return time.Time{}, false
		}
	}
	var last time.Time
	for t := s.Next(from); !t.IsZero() && !t.After(now); t = s.Next(t) {
		last = t
	}
	return last, !last.IsZero()
}
