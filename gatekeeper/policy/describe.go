package policy

import (
	"slices"

	"github.com/deployerhq/deployer/schemas"
)

// ContainerInfo describes a container for "deployer describe"; it is a
// contract (the gatekeeper's answer on AWS), so it lives in schemas.
type ContainerInfo = schemas.ContainerInfo

// ScriptInfo describes a script's argument policy (see schemas).
type ScriptInfo = schemas.ScriptInfo

// Describe lists the containers and scripts caller may run, sorted by name.
func (p *Policy) Describe(caller schemas.Identity) []ContainerInfo {
	var out []ContainerInfo
	if caller.Principal == "" {
		return out
	}
	for _, name := range p.names {
		c := p.containers[name]
		if !c.callers.allows(caller.Principal) {
			continue
		}
		info := ContainerInfo{
			Name: c.name, Description: c.description, Image: c.image, TaskDefinition: c.taskDefinition,
			LaunchTypes: slices.Clone(c.launchTypes), TaskCPU: c.cpu, TaskMemory: c.memory,
			MaxTaskCPU: c.maxCPU, MaxTaskMemory: c.maxMemory, Lane: c.lane, LaneLimit: c.laneLimit,
			Environment: sortedKeys(c.env), Secrets: sortedKeys(c.secrets),
		}
		for _, sname := range c.scriptNames {
			s := c.scripts[sname]
			if !s.callers.allows(caller.Principal) {
				continue
			}
			si := s.info
			si.AllowedOptions = slices.Clone(si.AllowedOptions)
			si.AllowedOptionsWithoutArgs = slices.Clone(si.AllowedOptionsWithoutArgs)
			si.RestrictedOptions = slices.Clone(si.RestrictedOptions)
			si.RepeatableOptions = slices.Clone(si.RepeatableOptions)
			si.HardcodedArgv = slices.Clone(si.HardcodedArgv)
			si.HardcodedArgs = slices.Clone(si.HardcodedArgs)
			si.AllowedRefs = slices.Clone(si.AllowedRefs)
			if si.OptionPatterns != nil {
				m := make(map[string]string, len(si.OptionPatterns))
				for k, v := range si.OptionPatterns {
					m[k] = v
				}
				si.OptionPatterns = m
			}
			info.Scripts = append(info.Scripts, si)
		}
		if len(info.Scripts) > 0 {
			out = append(out, info)
		}
	}
	return out
}
