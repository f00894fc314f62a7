package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/deployerhq/deployer/schemas"
)

// edrContainer is one entry of the ECS deploy runner's container_images
// variable.
type edrContainer struct {
	DockerImage                  string               `json:"docker_image"`
	DockerTag                    string               `json:"docker_tag"`
	SecretsManagerEnvVars        map[string]string    `json:"secrets_manager_env_vars"`
	EnvironmentVars              map[string]string    `json:"environment_vars"`
	AdditionalSecretsManagerARNs []string             `json:"additional_secrets_manager_arns"`
	ScriptConfig                 map[string]edrScript `json:"script_config"`
	Default                      *bool                `json:"default"`
}

type edrScript struct {
	HardcodedOptions          map[string][]string `json:"hardcoded_options"`
	HardcodedArgs             []string            `json:"hardcoded_args"`
	AllowPositionalArgs       *bool               `json:"allow_positional_args"`
	AllowedOptions            []string            `json:"allowed_options"`
	AllowedOptionsWithoutArgs []string            `json:"allowed_options_without_args"`
	RestrictedOptions         []string            `json:"restricted_options"`
	RestrictedOptionsRegex    map[string]string   `json:"restricted_options_regex"`
}

// The JSON fields of the EDR types, found when an import first needs them:
// building them at init (encoding/json's first look at each type) cost
// every process ~0.1 ms for a command few ever run.
var (
	edrContainerFields = sync.OnceValue(func() map[string]bool { return jsonFieldSet(edrContainer{}) })
	edrScriptFields    = sync.OnceValue(func() map[string]bool { return jsonFieldSet(edrScript{}) })
)

// EDRNote is one thing an EDR import changed in meaning, made explicit,
// or could not carry.
type EDRNote struct {
	// Container is the container the note is about; empty for the whole
	// configuration.
	Container string
	// Text is one line, starting with the path it is about.
	Text string
	// NotCarried is true when a setting has no place in the configuration
	// and was left out.
	NotCarried bool
}

// edrNotes collects an import's notes.
type edrNotes struct{ list []EDRNote }

func (n *edrNotes) add(container string, notCarried bool, format string, args ...any) {
	n.list = append(n.list, EDRNote{Container: container, Text: escapeControl(fmt.Sprintf(format, args...)), NotCarried: notCarried})
}

// forContainer returns a note function bound to one container: it records
// changes in meaning.
func (n *edrNotes) forContainer(name string) func(string, ...any) {
	return func(format string, args ...any) { n.add(name, false, format, args...) }
}

func (n *edrNotes) texts() []string {
	out := make([]string, len(n.list))
	for i, e := range n.list {
		out[i] = e.Text
	}
	return out
}

// ImportEDR converts the ECS deploy runner's container_images variable
// (Terraform variable JSON: {"container_images": {...}} as in a
// .tfvars.json file, {"variable": {"container_images": {"default": {...}}}},
// or the map itself) into a deployer configuration. The notes say what
// changed in meaning and what to review: scripts EDR allowed implicitly,
// options it normalized, settings that have no equivalent here.
// ImportEDRVariables also reads the standard configuration's *_config
// variables.
//
// The error is non-nil when data is not such a document, or when the
// converted configuration does not validate: then it is a *ConfigError and
// the configuration and notes are still returned, for a person to fix.
func ImportEDR(data []byte) (schemas.Config, []string, error) {
	images, err := edrImages(data)
	if err != nil {
		return schemas.Config{}, nil, err
	}
	cfg := schemas.Config{Containers: map[string]schemas.Container{}}
	var notes edrNotes
	notes.add("", false, "EDR authorized callers by IAM permission to invoke its Lambda; deployer checks allowed_callers per container and script, and these are left absent (any caller that may enqueue requests): set them")
	notes.add("", false, "EDR's container_cpu, container_memory, container_max_cpu, container_max_memory and container_default_launch_type were module-wide variables; set task_cpu, task_memory, max_task_cpu, max_task_memory and launch_types per container (left at their defaults: the task definition's size, no overrides, FARGATE)")
	if err := importEDRImages(images, "container_images", &cfg, &notes); err != nil {
		return schemas.Config{}, nil, err
	}
	if err := ValidateConfig(cfg, ""); err != nil {
		return cfg, notes.texts(), err
	}
	return cfg, notes.texts(), nil
}

// importEDRImages converts a container_images map (raw JSON per container)
// into cfg's containers.
func importEDRImages(images map[string]json.RawMessage, variable string, cfg *schemas.Config, notes *edrNotes) error {
	for _, name := range sortedKeys(images) {
		raw := images[name]
		path := "containers." + name
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("%s.%s: %w", variable, escapeControl(name), err)
		}
		for _, k := range sortedKeys(fields) {
			if !edrContainerFields()[k] {
				notes.add(name, true, "%s: EDR field %s has no equivalent and was dropped", path, k)
			}
		}
		var ec edrContainer
		if err := json.Unmarshal(raw, &ec); err != nil {
			return fmt.Errorf("%s.%s: %w", variable, escapeControl(name), err)
		}
		var scriptFields map[string]map[string]json.RawMessage
		_ = json.Unmarshal(fields["script_config"], &scriptFields)
		for _, sname := range sortedKeys(ec.ScriptConfig) {
			for _, k := range sortedKeys(scriptFields[sname]) {
				if !edrScriptFields()[k] {
					notes.add(name, true, "%s.script_config.%s: EDR field %s has no equivalent and was dropped", path, sname, k)
				}
			}
		}
		cfg.Containers[name] = importEDRContainer(name, ec, notes)
	}
	return nil
}

// importEDRContainer converts one container_images entry.
func importEDRContainer(name string, ec edrContainer, notes *edrNotes) schemas.Container {
	path := "containers." + name
	note := notes.forContainer(name)
	c := schemas.Container{
		EnvironmentVars: ec.EnvironmentVars,
		ScriptConfig:    map[string]schemas.ScriptConfig{},
	}
	if len(c.EnvironmentVars) == 0 {
		c.EnvironmentVars = nil
	}
	switch {
	case ec.DockerImage == "":
		note("%s: no docker_image; set image or task_definition", path)
	case strings.HasPrefix(ec.DockerTag, "sha256:"):
		c.Image = ec.DockerImage + "@" + ec.DockerTag
	case ec.DockerTag == "":
		c.Image = ec.DockerImage
		note("%s: no docker_tag; the image %s runs whatever its default tag points to: pin a tag or digest", path, c.Image)
	default:
		c.Image = ec.DockerImage + ":" + ec.DockerTag
	}
	if len(ec.SecretsManagerEnvVars) > 0 {
		c.Secrets = map[string]string{}
		for _, env := range sortedKeys(ec.SecretsManagerEnvVars) {
			ref := ec.SecretsManagerEnvVars[env]
			c.Secrets[env] = ref
			if err := checkSecretRef(ref); err != nil {
				note("%s.secrets.%s: %v", path, env, err)
			}
		}
		note("%s: secrets_manager_env_vars became secrets (%s): references travel in run orders and are resolved inside the task", path, strings.Join(sortedKeys(ec.SecretsManagerEnvVars), ", "))
	}
	if len(ec.AdditionalSecretsManagerARNs) > 0 {
		notes.add(name, true, "%s: additional_secrets_manager_arns (%d) have no equivalent: grant the task role read access to them instead", path, len(ec.AdditionalSecretsManagerARNs))
	}
	if ec.Default != nil && *ec.Default {
		note("%s: was EDR's default container; deployer has no default, so callers must name it", path)
	}
	note("%s: EDR ran any other script of the container's triggers directory with no arguments; deployer refuses scripts not listed in script_config: add each one you still run with allowed_options: []", path)
	if len(ec.ScriptConfig) == 0 {
		note("%s: has no script_config; list its scripts, or the configuration does not validate", path)
	}
	for _, sname := range sortedKeys(ec.ScriptConfig) {
		c.ScriptConfig[sname] = importEDRScript(ec.ScriptConfig[sname], path+".script_config."+sname, note)
	}
	return c
}

func importEDRScript(es edrScript, path string, note func(string, ...any)) schemas.ScriptConfig {
	dash := func(field string, opt string) string {
		if strings.HasPrefix(opt, "-") {
			return opt
		}
		note("%s.%s: %s is written without dashes; it became --%s", path, field, opt, opt)
		return "--" + opt
	}
	dashAll := func(field string, opts []string) []string {
		if opts == nil {
			return nil
		}
		out := make([]string, 0, len(opts))
		for _, o := range opts {
			if o := dash(field, o); !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
		return out
	}
	sc := schemas.ScriptConfig{
		HardcodedArgs:             es.HardcodedArgs,
		AllowedOptions:            dashAll("allowed_options", es.AllowedOptions),
		AllowedOptionsWithoutArgs: dashAll("allowed_options_without_args", es.AllowedOptionsWithoutArgs),
		RestrictedOptions:         dashAll("restricted_options", es.RestrictedOptions),
	}
	if es.AllowPositionalArgs != nil {
		sc.AllowPositionalArgs = *es.AllowPositionalArgs
	}
	if sc.AllowedOptions == nil {
		note("%s: allowed_options is null, so any option that is not restricted is allowed (as in EDR); consider listing them", path)
	}
	hardcoded := map[string]bool{}
	for _, opt := range sortedKeys(es.HardcodedOptions) {
		o := dash("hardcoded_options", opt)
		values := es.HardcodedOptions[opt]
		hardcoded[identityLoose(o)] = true
		if len(values) == 0 {
			note("%s.hardcoded_options.%s: EDR passed nothing for an empty list; deployer would pass %s as a flag, so it became a restricted option instead", path, o, o)
			if !slices.Contains(sc.RestrictedOptions, o) {
				sc.RestrictedOptions = append(sc.RestrictedOptions, o)
			}
			continue
		}
		if sc.HardcodedOptions == nil {
			sc.HardcodedOptions = map[string][]string{}
		}
		sc.HardcodedOptions[o] = values
	}
	if len(sc.HardcodedOptions) > 0 {
		note("%s: callers can no longer pass or repeat the hardcoded options (%s)", path, strings.Join(sortedKeys(sc.HardcodedOptions), ", "))
	}
	restricted := map[string]bool{}
	for _, o := range sc.RestrictedOptions {
		restricted[identityLoose(o)] = true
	}
	prune := func(field string, opts []string) []string {
		if opts == nil {
			return nil
		}
		out := []string{}
		for _, o := range opts {
			switch id := identityLoose(o); {
			case hardcoded[id]:
				note("%s.%s: %s is hardcoded, so it was removed from %s", path, field, o, field)
			case restricted[id]:
				note("%s.%s: %s is also restricted, so it was removed from %s (restricted wins)", path, field, o, field)
			default:
				out = append(out, o)
			}
		}
		return out
	}
	sc.AllowedOptions = prune("allowed_options", sc.AllowedOptions)
	sc.AllowedOptionsWithoutArgs = prune("allowed_options_without_args", sc.AllowedOptionsWithoutArgs)
	if sc.AllowedOptions != nil {
		var extra []string
		for _, o := range sc.AllowedOptionsWithoutArgs {
			if !slices.Contains(sc.AllowedOptions, o) {
				extra = append(extra, o)
			}
		}
		if len(extra) > 0 {
			note("%s: deployer allows allowed_options_without_args in addition to allowed_options, so %s may now be passed", path, strings.Join(extra, ", "))
		}
	}
	for _, opt := range sortedKeys(es.RestrictedOptionsRegex) {
		o := dash("restricted_options_regex", opt)
		expr := es.RestrictedOptionsRegex[opt]
		if sc.RestrictedOptionsRegex == nil {
			sc.RestrictedOptionsRegex = map[string]string{}
		}
		sc.RestrictedOptionsRegex[o] = expr
		if _, err := regexp.Compile(expr); err != nil {
			note("%s.restricted_options_regex.%s: %s is not RE2 (Go) syntax: %s; rewrite it", path, o, quote(expr), regexpReason(err))
		} else if !strings.HasPrefix(expr, "^") || !strings.HasSuffix(expr, "$") {
			note("%s.restricted_options_regex.%s: deployer matches the whole value, as if the pattern were ^(?:%s)$; check that it still admits what it should", path, o, expr)
		}
	}
	return sc
}

// edrImages finds the container_images map in data.
func edrImages(data []byte) (map[string]json.RawMessage, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("reading EDR container_images: not a JSON object: %w", err)
	}
	if raw, ok := top["variable"]; ok {
		var v struct {
			ContainerImages struct {
				Default json.RawMessage `json:"default"`
			} `json:"container_images"`
		}
		if err := json.Unmarshal(raw, &v); err == nil && len(v.ContainerImages.Default) > 0 {
			top = map[string]json.RawMessage{"container_images": v.ContainerImages.Default}
		}
	}
	if raw, ok := top["container_images"]; ok {
		var images map[string]json.RawMessage
		if err := json.Unmarshal(raw, &images); err != nil {
			return nil, fmt.Errorf("reading EDR container_images: %w", err)
		}
		top = images
	}
	if len(top) == 0 {
		return nil, errors.New("reading EDR container_images: no containers found; expected {\"container_images\": {NAME: {docker_image, docker_tag, script_config, ...}}}")
	}
	for name, raw := range top {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, fmt.Errorf("reading EDR container_images: %s is not an object", name)
		}
		_, img := fields["docker_image"]
		_, sc := fields["script_config"]
		if !img && !sc {
			return nil, fmt.Errorf("reading EDR container_images: %s has neither docker_image nor script_config; is this a container_images map?", name)
		}
	}
	return top, nil
}

// identityLoose is identity for names that may not be valid options.
func identityLoose(opt string) string { return strings.ToLower(strings.TrimLeft(opt, "-")) }

func jsonFieldSet(v any) map[string]bool {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
