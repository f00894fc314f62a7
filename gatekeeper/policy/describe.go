package policy

import (
	"slices"

	"github.com/deployerhq/deployer/schemas"
)

// ContainerInfo describes a container for "deployer describe": only what
// the caller may run.
type ContainerInfo struct {
	Name           string       `json:"name"`
	Description    string       `json:"description,omitempty"`
	Image          string       `json:"image,omitempty"`
	TaskDefinition string       `json:"task_definition,omitempty"`
	LaunchTypes    []string     `json:"launch_types"`
	TaskCPU        int          `json:"task_cpu,omitempty"`
	TaskMemory     int          `json:"task_memory,omitempty"`
	MaxTaskCPU     int          `json:"max_task_cpu,omitempty"`
	MaxTaskMemory  int          `json:"max_task_memory,omitempty"`
	Lane           string       `json:"lane"`
	LaneLimit      int          `json:"lane_limit"`
	Environment    []string     `json:"environment,omitempty"` // names only
	Secrets        []string     `json:"secrets,omitempty"`     // names only
	Scripts        []ScriptInfo `json:"scripts"`
}

// ScriptInfo describes a script's argument policy.
type ScriptInfo struct {
	Name string `json:"name"`
	// AnyOption is set when allowed_options is null: any option not
	// restricted is allowed.
	AnyOption                 bool              `json:"any_option"`
	AllowedOptions            []string          `json:"allowed_options"`
	AllowedOptionsWithoutArgs []string          `json:"allowed_options_without_args,omitempty"`
	RestrictedOptions         []string          `json:"restricted_options,omitempty"`
	OptionPatterns            map[string]string `json:"option_patterns,omitempty"`
	RepeatableOptions         []string          `json:"repeatable_options,omitempty"`
	AllowPositionalArgs       bool              `json:"allow_positional_args"`
	// HardcodedArgv is what every run starts with; HardcodedArgs what it
	// ends with.
	HardcodedArgv []string         `json:"hardcoded_argv,omitempty"`
	HardcodedArgs []string         `json:"hardcoded_args,omitempty"`
	AllowedRefs   []string         `json:"allowed_refs,omitempty"`
	Timeout       schemas.Duration `json:"timeout"`
	MaxTimeout    schemas.Duration `json:"max_timeout"`
}

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
