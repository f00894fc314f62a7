package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// Resolve checks a request against the policy and the caller's verified
// identity, and returns the fully resolved run order. A refused request
// returns a *Rejection; Resolve returns no other error.
func (p *Policy) Resolve(req schemas.JobRequest, caller schemas.Identity, now time.Time) (schemas.RunOrder, error) {
	if err := req.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), schemas.ErrMalformed.Error()+": ")
		return schemas.RunOrder{}, reject(CodeMalformedRequest, "request is malformed: "+msg)
	}
	c := p.containers[req.Container]
	if c == nil {
		return schemas.RunOrder{}, reject(CodeUnknownContainer, fmt.Sprintf(
			"container %s is not in the allow-list; containers you may run: %s",
			show(req.Container), list(p.runnable(caller), "none")))
	}
	if caller.Principal == "" {
		return schemas.RunOrder{}, reject(CodeCallerNotAllowed, fmt.Sprintf(
			"caller identity is empty, so it cannot be checked against container %s's allowed callers", c.name))
	}
	if !c.callers.allows(caller.Principal) {
		return schemas.RunOrder{}, reject(CodeCallerNotAllowed, fmt.Sprintf(
			"caller %s may not run container %s; allowed callers: %s",
			show(caller.Principal), c.name, c.callers.describe()))
	}
	if req.Canary {
		return p.resolveCanary(req, c, caller, now)
	}
	s := c.scripts[req.Script]
	if s == nil {
		return schemas.RunOrder{}, reject(CodeUnknownScript, fmt.Sprintf(
			"script %s is not in the allow-list of container %s; scripts you may run: %s",
			show(req.Script), c.name, list(c.runnable(caller), "none")))
	}
	if !s.callers.allows(caller.Principal) {
		return schemas.RunOrder{}, reject(CodeCallerNotAllowed, fmt.Sprintf(
			"caller %s may not run %s; allowed callers: %s",
			show(caller.Principal), s.where, s.callers.describe()))
	}

	words := req.Args.Words
	if req.Args.IsLegacy {
		var err error
		if words, err = SplitWords(req.Args.Legacy); err != nil {
			return schemas.RunOrder{}, reject(CodeMalformedArgs, fmt.Sprintf(
				"args string for %s cannot be split into words: %v; close the quote or send args as an array", s.where, err))
		}
	}
	refs, rej := s.vet(words)
	if rej != nil {
		return schemas.RunOrder{}, rej
	}
	if rej := s.checkRefs(req.Caller.Ref, refs); rej != nil {
		return schemas.RunOrder{}, rej
	}

	cpu, memory := c.cpu, c.memory
	if req.TaskCPU > 0 {
		if req.TaskCPU > c.maxCPU {
			return schemas.RunOrder{}, reject(CodeCPUOverCap, overCap("task_cpu", req.TaskCPU, c.maxCPU, c.name))
		}
		cpu = req.TaskCPU
	}
	if req.TaskMemory > 0 {
		if req.TaskMemory > c.maxMemory {
			return schemas.RunOrder{}, reject(CodeMemoryOverCap, overCap("task_memory", req.TaskMemory, c.maxMemory, c.name))
		}
		memory = req.TaskMemory
	}
	launchType := c.launchTypes[0]
	if req.LaunchType != "" {
		lt := strings.ToUpper(req.LaunchType)
		if !slices.Contains(c.launchTypes, lt) {
			return schemas.RunOrder{}, reject(CodeLaunchTypeNotAllowed, fmt.Sprintf(
				"launch_type %s is not allowed for container %s; allowed: %s",
				show(req.LaunchType), c.name, strings.Join(c.launchTypes, ", ")))
		}
		launchType = lt
	}
	if launchType == "FARGATE" && cpu > 0 && (req.TaskCPU > 0 || req.TaskMemory > 0 || req.LaunchType != "") {
		why := ""
		if memory > 0 {
			why = checkFargate(cpu, memory)
		} else if fargateMemory(cpu) == nil {
			why = checkFargate(cpu, 0)
		}
		if why != "" {
			return schemas.RunOrder{}, reject(CodeInvalidFargateSize, why+" (container "+c.name+")")
		}
	}
	timeout := s.timeout
	if req.Timeout > 0 {
		if req.Timeout.D() > s.maxTimeout {
			return schemas.RunOrder{}, reject(CodeTimeoutOverCap, fmt.Sprintf(
				"timeout %s is over the cap of %s: at most %s", req.Timeout, s.where, schemas.Duration(s.maxTimeout)))
		}
		timeout = req.Timeout.D()
	}

	argv := make([]string, 0, len(s.hardcoded)+len(words)+len(s.hardcodedArgs))
	argv = append(argv, s.hardcoded...)
	argv = append(argv, words...)
	argv = append(argv, s.hardcodedArgs...)

	request := req
	request.Args.Words = slices.Clone(req.Args.Words)
	return schemas.RunOrder{
		Schema:         schemas.RunOrderV1,
		JobID:          req.JobID,
		Attempt:        req.Attempt,
		Request:        request,
		Container:      c.name,
		Script:         s.name,
		Argv:           argv,
		Image:          c.image,
		TaskDefinition: c.taskDefinition,
		ScriptsDir:     c.scriptsDir,
		Environment:    maps.Clone(c.env),
		Secrets:        maps.Clone(c.secrets),
		TaskCPU:        cpu,
		TaskMemory:     memory,
		LaunchType:     launchType,
		Timeout:        schemas.Duration(timeout),
		Retry:          schemas.RetryPolicy{MaxAttempts: s.retry.MaxAttempts, OnExitCodes: slices.Clone(s.retry.OnExitCodes)},
		DeadLetterOn:   slices.Clone(s.deadLetterOn),
		Lane:           c.lane,
		LaneLimit:      c.laneLimit,
		Caller:         caller,
		Stream:         req.Stream,
		AcceptedAt:     now,
	}, nil
}

// CanaryTimeout is the timeout of a canary's task, unless its container's
// default timeout is shorter: the version probe takes a second once the
// task runs, so this bounds how long the task may take to start.
const CanaryTimeout = 5 * time.Minute

// resolveCanary resolves the canary request of a caller allowed to run
// container c: allowed when the caller may run at least one of c's
// scripts. Its order runs c's task (image, task definition, scripts
// directory, cpu, memory and launch type as c's scripts run) with the
// entrypoint's version probe instead of a script, with no environment and
// no secret references (the probe needs none), within CanaryTimeout, in
// c's lane; it is never retried nor dead-lettered.
func (p *Policy) resolveCanary(req schemas.JobRequest, c *container, caller schemas.Identity, now time.Time) (schemas.RunOrder, error) {
	if len(c.runnable(caller)) == 0 {
		return schemas.RunOrder{}, reject(CodeCallerNotAllowed, fmt.Sprintf(
			"caller %s may run no script of container %s, so it may not run its canary either; containers you may run: %s",
			show(caller.Principal), c.name, list(p.runnable(caller), "none")))
	}
	request := req
	request.Args.Words = slices.Clone(req.Args.Words)
	return schemas.RunOrder{
		Schema:         schemas.RunOrderV1,
		JobID:          req.JobID,
		Attempt:        req.Attempt,
		Request:        request,
		Container:      c.name,
		Canary:         true,
		Image:          c.image,
		TaskDefinition: c.taskDefinition,
		ScriptsDir:     c.scriptsDir,
		TaskCPU:        c.cpu,
		TaskMemory:     c.memory,
		LaunchType:     c.launchTypes[0],
		Timeout:        schemas.Duration(min(CanaryTimeout, c.timeout)),
		DeadLetterOn:   []schemas.Outcome{},
		Lane:           c.lane,
		LaneLimit:      c.laneLimit,
		Caller:         caller,
		Stream:         req.Stream,
		AcceptedAt:     now,
	}, nil
}

func overCap(field string, got, limit int, container string) string {
	if limit == 0 {
		return fmt.Sprintf("%s %d is not allowed: container %s takes its %s from the task definition and allows no override", field, got, container, field)
	}
	return fmt.Sprintf("%s %d is over the cap of container %s: at most %d", field, got, container, limit)
}

// runnable lists the containers the caller may run something in.
func (p *Policy) runnable(caller schemas.Identity) []string {
	var out []string
	for _, name := range p.names {
		c := p.containers[name]
		if caller.Principal != "" && c.callers.allows(caller.Principal) && len(c.runnable(caller)) > 0 {
			out = append(out, name)
		}
	}
	return out
}

// runnable lists the scripts of c the caller may run.
func (c *container) runnable(caller schemas.Identity) []string {
	var out []string
	for _, name := range c.scriptNames {
		if caller.Principal != "" && c.scripts[name].callers.allows(caller.Principal) {
			out = append(out, name)
		}
	}
	return out
}

// vet checks the caller's arguments and returns the values of --ref
// options, for allowed_refs.
func (s *script) vet(words []string) (refs []string, rej *Rejection) {
	if len(words) > MaxArgs {
		return nil, reject(CodeTooManyArgs, fmt.Sprintf("%d arguments given for %s; at most %d are accepted", len(words), s.where, MaxArgs))
	}
	for i, w := range words {
		if len(w) > MaxArgBytes {
			return nil, reject(CodeInvalidArgument, fmt.Sprintf("argument %d for %s is %d bytes long; at most %d bytes are accepted", i+1, s.where, len(w), MaxArgBytes))
		}
		if bad := badChar(w); bad != "" {
			return nil, reject(CodeInvalidArgument, fmt.Sprintf("argument %d for %s (%s) contains %s; arguments may not contain control characters, newlines or invalid UTF-8", i+1, s.where, quote(w), bad))
		}
	}
	var seen map[string]int
	endOfOptions := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		k, name, value, hasValue := classify(w)
		if k == tokMalformed {
			return nil, reject(CodeMalformedOption, fmt.Sprintf(
				"argument %s for %s looks like an option but is not spelled as one: an option is one or two ASCII '-' then a letter or digit, then letters, digits, '.', '_' or '-' (no look-alike dashes, leading spaces or ---)", quote(w), s.where))
		}
		if endOfOptions {
			if k == tokOption {
				if rej := s.forbidden(name, " (also after --)", true); rej != nil {
					return nil, rej
				}
			}
			continue
		}
		switch k {
		case tokEndOfOptions:
			if !s.positional {
				return nil, reject(CodePositionalNotAllowed, fmt.Sprintf(
					"-- introduces positional arguments, which %s does not accept; %s", s.where, s.allowedText))
			}
			if s.hardcodedArgsOptionLike {
				return nil, reject(CodeEndOfOptionsNotAllowed, fmt.Sprintf(
					"-- is not allowed for %s: it would turn the configured trailing arguments (%s) into positionals; pass positional arguments without --", s.where, strings.Join(s.hardcodedArgs, " ")))
			}
			endOfOptions = true
		case tokPositional:
			if !s.positional {
				return nil, reject(CodePositionalNotAllowed, fmt.Sprintf(
					"positional argument %s is not allowed for %s; it accepts options only (%s)", show(w), s.where, s.allowedText))
			}
		case tokOption:
			id := identity(name)
			if rej := s.forbidden(name, "", s.anyOption); rej != nil {
				return nil, rej
			}
			if !s.anyOption && !s.allowed[name] {
				if spelled, ok := s.allowedIDs[id]; ok {
					return nil, reject(CodeOptionNotAllowed, fmt.Sprintf(
						"option %s is not allowed for %s as spelled; write it exactly as configured: %s", name, s.where, spelled))
				}
				return nil, reject(CodeOptionNotAllowed, fmt.Sprintf("option %s is not allowed for %s; %s", name, s.where, s.allowedText))
			}
			flag := s.flags[id]
			switch {
			case flag && hasValue:
				return nil, reject(CodeOptionUnexpectedValue, fmt.Sprintf(
					"option %s takes no value for %s; pass it alone, as %s", name, s.where, name))
			case !flag && !hasValue:
				if i+1 >= len(words) {
					return nil, reject(CodeOptionMissingValue, fmt.Sprintf(
						"option %s needs a value for %s; write %s VALUE or %s=VALUE", name, s.where, name, name))
				}
				if nk, _, _, _ := classify(words[i+1]); nk != tokPositional {
					return nil, reject(CodeOptionMissingValue, fmt.Sprintf(
						"option %s needs a value for %s but is followed by %s; write %s=VALUE for a value starting with '-'", name, s.where, show(words[i+1]), name))
				}
				i++
				value = words[i]
			}
			if seen == nil {
				seen = make(map[string]int, 8)
			}
			seen[id]++
			if seen[id] > 1 && !s.repeatable[id] {
				return nil, reject(CodeOptionRepeated, fmt.Sprintf(
					"option %s is given more than once for %s; repeatable options: %s", name, s.where, list(s.info.RepeatableOptions, "none")))
			}
			if flag {
				continue
			}
			if re := s.valueRE[id]; re != nil && !re.MatchString(value) {
				return nil, reject(CodeOptionValueRejected, fmt.Sprintf(
					"value %s of option %s is not allowed for %s; it must match %s (whole value)", quote(value), name, s.where, s.valueSrc[id]))
			}
			if id == "ref" {
				refs = append(refs, value)
			}
		}
	}
	return refs, nil
}

// forbidden refuses an option that is hardcoded or restricted, whatever
// its spelling. Where any option may be passed (allowed_options null, or
// after "--"), it also refuses abbreviations of them: getopt_long and
// Python's argparse accept a unique prefix of a long option, so "--dest"
// would reach the script as "--destroy".
func (s *script) forbidden(name, where string, abbreviations bool) *Rejection {
	id := identity(name)
	if h, ok := s.hardcodedIDs[id]; ok {
		return reject(CodeHardcodedOptionOverridden, fmt.Sprintf(
			"option %s is fixed by the configuration of %s (%s) and cannot be passed%s", name, s.where, h, where))
	}
	if _, ok := s.restricted[id]; ok {
		return reject(CodeOptionRestricted, fmt.Sprintf(
			"option %s is restricted for %s%s; %s", name, s.where, where, s.allowedText))
	}
	if abbreviations && (len(id) > 1 || strings.HasPrefix(name, "--")) {
		for _, g := range s.guarded {
			if len(g.id) > len(id) && strings.HasPrefix(g.id, id) {
				return reject(CodeOptionRestricted, fmt.Sprintf(
					"option %s is restricted for %s%s: it abbreviates %s, and parsers such as getopt_long and argparse accept abbreviations; %s",
					name, s.where, where, g.spelled, s.allowedText))
			}
		}
	}
	return nil
}

// checkRefs applies allowed_refs to the request's ref and --ref values.
func (s *script) checkRefs(callerRef string, optionRefs []string) *Rejection {
	if len(s.refs) == 0 {
		return nil
	}
	allowed := func(ref string) bool {
		short := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
		for _, re := range s.refs {
			if re.MatchString(ref) || re.MatchString(short) {
				return true
			}
		}
		return false
	}
	patterns := strings.Join(s.refSrc, ", ")
	if callerRef == "" && len(optionRefs) == 0 {
		return reject(CodeRefNotAllowed, fmt.Sprintf(
			"%s may only run from refs matching %s (whole match); the request names no ref (set caller.ref or pass --ref)", s.where, patterns))
	}
	if callerRef != "" && !allowed(callerRef) {
		return reject(CodeRefNotAllowed, fmt.Sprintf(
			"%s may only run from refs matching %s (whole match); got %s", s.where, patterns, show(callerRef)))
	}
	for _, r := range optionRefs {
		if !allowed(r) {
			return reject(CodeRefNotAllowed, fmt.Sprintf(
				"%s may only run from refs matching %s (whole match); got --ref %s", s.where, patterns, show(r)))
		}
	}
	return nil
}
