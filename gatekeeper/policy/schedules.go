package policy

import (
	"strings"

	"github.com/deployerhq/deployer/internal/schedule/cronspec"
	"github.com/deployerhq/deployer/schemas"
)

// scheduleProblems checks what the schema cannot say about schedules: a
// cron expression and time zone that parse, and a container and script
// that the configuration lists.
func scheduleProblems(cfg schemas.Config, ps *problems) {
	for _, name := range sortedKeys(cfg.Schedules) {
		s := cfg.Schedules[name]
		path := "schedules." + name
		if _, err := cronspec.LoadZone(s.TimeZone); err != nil {
			ps.add(path+".time_zone", "schedule %s: %v", name, err)
		} else if _, err := cronspec.Parse(s.Cron, s.TimeZone); err != nil {
			ps.add(path+".cron", "schedule %s: %v", name, err)
		}
		c, ok := cfg.Containers[s.Container]
		switch {
		case !ok:
			ps.add(path+".container", "schedule %s: container %s is not listed under containers (listed: %s)",
				name, quote(s.Container), list(sortedKeys(cfg.Containers), "none"))
		case !hasKey(c.ScriptConfig, s.Script):
			ps.add(path+".script", "schedule %s: script %s is not listed under containers.%s.script_config (listed: %s)",
				name, quote(s.Script), s.Container, list(sortedKeys(c.ScriptConfig), "none"))
		}
		switch s.EffectiveOverlap() {
		case schemas.OverlapSkip, schemas.OverlapAllow, schemas.OverlapCancelPrevious:
		default:
			ps.add(path+".overlap", "schedule %s: overlap %s: want skip, allow or cancel-previous", name, quote(s.Overlap))
		}
		if s.PauseAfterFailures < 0 {
			ps.add(path+".pause_after_failures", "schedule %s: pause_after_failures must not be negative (0 never pauses)", name)
		}
		if s.Caller != "" && strings.HasPrefix(s.Caller, schemas.ScheduleCallerPrefix) && s.Caller != schemas.ScheduleCaller(name) {
			ps.add(path+".caller", "schedule %s: caller %s names another schedule; the embedded scheduler sends as %s",
				name, quote(s.Caller), quote(schemas.ScheduleCaller(name)))
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
