package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/deployerhq/deployer/schemas"
)

// EDRVariable is one Terraform variable of an ECS deploy runner
// deployment, as read from a variable file (internal/tfvars reads them).
type EDRVariable struct {
	// Value is in the JSON data model: map[string]any, []any, string,
	// json.Number, bool or nil.
	Value any
	// Pos is where the variable was set, "FILE:LINE"; it prefixes errors.
	Pos string
}

// EDRImportOptions are the choices of an EDR import.
type EDRImportOptions struct {
	// ScriptsDir, when set, gives every container local.scripts_dir
	// ScriptsDir/CONTAINER, so that the configuration also serves the
	// embedded backend. Relative paths are relative to the configuration
	// file. Defaults to none: the configuration is for the AWS backend
	// (each container's image comes from its container_image).
	ScriptsDir string
}

// EDRImport is a converted EDR deployment.
type EDRImport struct {
	// Config is the configuration, validated unless ImportEDRVariables
	// returned a *ConfigError.
	Config schemas.Config
	// Notes say what changed in meaning and what was not carried.
	Notes []EDRNote
}

// The four variables of the standard configuration (the
// ecs-deploy-runner-standard-configuration module and the service
// catalog's ecs-deploy-runner), each one container, and the module-wide
// variables the importer also reads.
var (
	edrStandardVars = []string{"docker_image_builder_config", "ami_builder_config", "terraform_planner_config", "terraform_applier_config"}
	edrImageVars    = []string{"container_images", "additional_container_images"}
	edrSizeVars     = []string{"container_cpu", "container_memory", "container_max_cpu", "container_max_memory", "container_default_launch_type"}
)

// EDRVariableWanted reports whether ImportEDRVariables reads the variable;
// a reader need not evaluate the others (they may refer to anything).
func EDRVariableWanted(name string) bool {
	return slices.Contains(edrStandardVars, name) || slices.Contains(edrImageVars, name) ||
		slices.Contains(edrSizeVars, name) || name == "variable"
}

// edrStdConfig is the union of the four *_config object types.
type edrStdConfig struct {
	ContainerImage *struct {
		DockerImage string `json:"docker_image"`
		DockerTag   string `json:"docker_tag"`
	} `json:"container_image"`
	IAMPolicy                         map[string]json.RawMessage    `json:"iam_policy"`
	AllowedRepos                      []string                      `json:"allowed_repos"`
	AllowedReposRegex                 []string                      `json:"allowed_repos_regex"`
	GitConfig                         map[string]*string            `json:"git_config"`
	InfrastructureLiveRepositories    []string                      `json:"infrastructure_live_repositories"`
	InfrastructureLiveRepositoriesRgx []string                      `json:"infrastructure_live_repositories_regex"`
	AllowedUpdateVariableNames        []string                      `json:"allowed_update_variable_names"`
	AllowedApplyGitRefs               []string                      `json:"allowed_apply_git_refs"`
	AdditionalAllowedOptions          []string                      `json:"additional_allowed_options"`
	MachineUserGitInfo                *struct{ Name, Email string } `json:"machine_user_git_info"`
	RepoAccessSSHKeySecretsManagerARN *string                       `json:"repo_access_ssh_key_secrets_manager_arn"`
	RepoAccessHTTPSTokens             map[string]*string            `json:"repo_access_https_tokens"`
	SecretsManagerEnvVars             map[string]string             `json:"secrets_manager_env_vars"`
	EnvironmentVars                   map[string]string             `json:"environment_vars"`
}

var edrStdFields = sync.OnceValue(func() map[string]bool { return jsonFieldSet(edrStdConfig{}) })

// The scripts the standard configuration allows in each container, with
// the options its script_config lets callers pass. Review them against the
// scripts the images run.
var (
	edrBuildDockerImageOptions   = []string{"--repo", "--ref", "--context-path", "--docker-file-path", "--docker-image-tag", "--build-arg", "--env-secret", "--target", "--idempotent"}
	edrBuildPackerOptions        = []string{"--packer-template-path", "--build-name", "--var", "--idempotent"}
	edrDeployScriptOptions       = []string{"--ref", "--binary", "--command", "--command-args", "--deploy-path"}
	edrUpdateVariableOptions     = []string{"--git-url", "--git-branch-name", "--vars-path", "--name", "--value"}
	edrUpdateVariableFlags       = []string{"--skip-ci-flag"}
	edrPlanCommands              = `^(?:plan|plan-all|validate|validate-all)$`
	edrApplyCommands             = `^(?:plan|plan-all|apply|apply-all)$`
	edrBinaries                  = `^(?:terraform|terragrunt)$`
	edrContainerOfStandardConfig = map[string]string{
		"docker_image_builder_config": "docker-image-builder",
		"ami_builder_config":          "ami-builder",
		"terraform_planner_config":    "terraform-planner",
		"terraform_applier_config":    "terraform-applier",
	}
)

// ImportEDRVariables converts an ECS deploy runner deployment's variables
// into a configuration: the standard configuration's four *_config
// variables (a null one is a disabled container and is left out), the
// container_images and additional_container_images maps, and the
// module-wide task size variables. Settings with no place in a
// configuration (IAM policies, git credentials, infrastructure settings)
// are named in notes marked NotCarried, and so are the other variables in
// vars and those in skipped (which the reader did not evaluate).
//
// The error is non-nil when a variable does not have the type EDR gives it
// (naming its position), when none of these variables is set, or when the
// converted configuration does not validate: then it is a *ConfigError and
// the import is still returned, for a person to fix.
func ImportEDRVariables(vars map[string]EDRVariable, skipped []string, opts EDRImportOptions) (*EDRImport, error) {
	imp := &EDRImport{Config: schemas.Config{Containers: map[string]schemas.Container{}}}
	var notes edrNotes
	found := false
	for _, name := range edrStandardVars {
		if _, ok := vars[name]; ok {
			found = true
		}
	}
	for _, name := range edrImageVars {
		if _, ok := vars[name]; ok {
			found = true
		}
	}
	var unread []string
	for _, name := range sortedKeys(vars) {
		if !EDRVariableWanted(name) {
			unread = append(unread, name)
		}
	}
	if !found {
		unread = nil
		// A document of another shape ({"variable": ...} or the
		// container_images map itself): today's JSON reading.
		doc := map[string]any{}
		for k, v := range vars {
			doc[k] = v.Value
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("reading EDR variables: %w", err)
		}
		images, err := edrImages(raw)
		if err != nil {
			return nil, fmt.Errorf("%w (or the standard configuration's variables: %s)", err, strings.Join(edrStandardVars, ", "))
		}
		m := make(map[string]any, len(images))
		for k, r := range images {
			var x any
			_ = json.Unmarshal(r, &x) // edrImages decoded it already
			m[k] = x
		}
		vars = map[string]EDRVariable{"container_images": {Value: m}}
	}

	notes.add("", false, "EDR authorized callers by IAM permission to invoke its Lambda; deployer checks allowed_callers per container and script, and these are left absent (any caller that may enqueue requests): set them")
	for _, name := range edrStandardVars {
		v, ok := vars[name]
		if !ok {
			continue
		}
		cname := edrContainerOfStandardConfig[name]
		if v.Value == nil {
			notes.add("", true, "%s is null: EDR's %s container was disabled, so it is not listed", name, cname)
			continue
		}
		obj, ok := v.Value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be an object (the module's object type) or null, got %s", v.Pos, name, jsonKind(v.Value))
		}
		var sc edrStdConfig
		if err := decodeEDR(obj, &sc); err != nil {
			return nil, fmt.Errorf("%s: %s%w", v.Pos, name, err)
		}
		for _, k := range sortedKeys(obj) {
			if !edrStdFields()[k] {
				notes.add(cname, true, "%s.%s has no equivalent and was dropped", name, k)
			}
		}
		ec := edrStandardContainer(name, cname, sc, &notes)
		if _, dup := imp.Config.Containers[cname]; dup {
			return nil, fmt.Errorf("%s: %s: container %s is defined twice", v.Pos, name, cname)
		}
		imp.Config.Containers[cname] = importEDRContainer(cname, ec, &notes)
	}
	for _, name := range edrImageVars {
		v, ok := vars[name]
		if !ok || v.Value == nil {
			continue
		}
		m, ok := v.Value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be a map of containers, got %s", v.Pos, name, jsonKind(v.Value))
		}
		images := map[string]json.RawMessage{}
		for k, c := range m {
			if _, dup := imp.Config.Containers[k]; dup {
				return nil, fmt.Errorf("%s: %s.%s: container %s is already defined by a *_config variable", v.Pos, name, escapeControl(k), escapeControl(k))
			}
			if _, ok := c.(map[string]any); !ok {
				return nil, fmt.Errorf("%s: %s.%s must be an object, got %s", v.Pos, name, escapeControl(k), jsonKind(c))
			}
			raw, err := json.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %s.%s: %w", v.Pos, name, escapeControl(k), err)
			}
			images[k] = raw
		}
		if err := importEDRImages(images, name, &imp.Config, &notes); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Pos, err)
		}
	}
	if err := importEDRSizes(vars, &imp.Config, &notes); err != nil {
		return nil, err
	}
	if len(imp.Config.Containers) == 0 {
		return nil, errors.New("reading EDR variables: every container is disabled (null); there is nothing to import")
	}
	if opts.ScriptsDir != "" {
		for _, name := range sortedKeys(imp.Config.Containers) {
			c := imp.Config.Containers[name]
			c.Local = &schemas.LocalRunner{ScriptsDir: strings.TrimSuffix(opts.ScriptsDir, "/") + "/" + name}
			imp.Config.Containers[name] = c
			notes.add(name, false, "containers.%s: local.scripts_dir %s must hold an executable file per script (%s) for the embedded backend", name, c.Local.ScriptsDir, strings.Join(sortedKeys(c.ScriptConfig), ", "))
		}
	}
	for _, s := range slices.Concat(unread, skipped) {
		notes.add("", true, "%s was not read: it configures the deployment (Terraform), not what may run", s)
	}
	imp.Notes = notes.list
	if err := ValidateConfig(imp.Config, ""); err != nil {
		return imp, err
	}
	return imp, nil
}

// edrStandardContainer builds the container_images entry the standard
// configuration builds from one *_config variable.
func edrStandardContainer(variable, cname string, sc edrStdConfig, notes *edrNotes) edrContainer {
	path := "containers." + cname
	dropped := func(format string, args ...any) { notes.add(cname, true, format, args...) }
	ec := edrContainer{
		SecretsManagerEnvVars: sc.SecretsManagerEnvVars,
		EnvironmentVars:       sc.EnvironmentVars,
		ScriptConfig:          map[string]edrScript{},
	}
	if sc.ContainerImage != nil {
		ec.DockerImage, ec.DockerTag = sc.ContainerImage.DockerImage, sc.ContainerImage.DockerTag
	}
	if len(sc.IAMPolicy) > 0 {
		dropped("%s.iam_policy (%s): IAM permissions are the task role's; grant them in Terraform (the module's task role for %s)", variable, strings.Join(sortedKeys(sc.IAMPolicy), ", "), cname)
	}
	if sc.RepoAccessSSHKeySecretsManagerARN != nil && *sc.RepoAccessSSHKeySecretsManagerARN != "" {
		dropped("%s.repo_access_ssh_key_secrets_manager_arn: EDR gave the key to its scripts as DEPLOY_SCRIPT_SSH_PRIVATE_KEY; if your scripts still read it, add secrets: {DEPLOY_SCRIPT_SSH_PRIVATE_KEY: %s} to %s", variable, *sc.RepoAccessSSHKeySecretsManagerARN, path)
	}
	if keys := nonEmptyKeys(sc.RepoAccessHTTPSTokens); len(keys) > 0 {
		dropped("%s.repo_access_https_tokens (%s): EDR configured git with these tokens; add each one your scripts read under secrets", variable, strings.Join(keys, ", "))
	}
	if keys := nonEmptyKeys(sc.GitConfig); len(keys) > 0 {
		dropped("%s.git_config (%s): EDR configured git with these secrets; add each one your scripts read under secrets", variable, strings.Join(keys, ", "))
	}
	notes.add(cname, false, "%s: scripts and options follow the ECS deploy runner standard configuration; check them against the scripts your image runs", path)

	switch variable {
	case "docker_image_builder_config":
		s := edrScript{AllowedOptions: edrBuildDockerImageOptions, HardcodedOptions: map[string][]string{}}
		s.RestrictedOptionsRegex = edrRepoRegex("--repo", sc.AllowedRepos, sc.AllowedReposRegex, variable+".allowed_repos", &s, notes, cname)
		ec.ScriptConfig["build-docker-image"] = s
	case "ami_builder_config":
		s := edrScript{AllowedOptions: edrBuildPackerOptions}
		if re := edrAlternation(sc.AllowedRepos, sc.AllowedReposRegex); re != "" {
			s.RestrictedOptionsRegex = map[string]string{"--packer-template-path": `^git::` + strings.TrimSuffix(strings.TrimPrefix(re, "^"), "$") + `//.+$`}
		} else {
			s.RestrictedOptionsRegex = map[string]string{"--packer-template-path": `^[^:]+$`}
			notes.add(cname, false, "%s: allowed_repos and allowed_repos_regex are empty, so --packer-template-path may name a local template only", path)
		}
		ec.ScriptConfig["build-packer-artifact"] = s
	case "terraform_planner_config", "terraform_applier_config":
		s := edrScript{AllowedOptions: slices.Concat(edrDeployScriptOptions, sc.AdditionalAllowedOptions)}
		repos, reposRegex := sc.InfrastructureLiveRepositories, sc.InfrastructureLiveRepositoriesRgx
		if len(repos) == 1 && len(reposRegex) == 0 {
			s.HardcodedOptions = map[string][]string{"--repo": {repos[0]}}
			s.RestrictedOptionsRegex = map[string]string{}
		} else {
			s.AllowedOptions = append(s.AllowedOptions, "--repo")
			s.RestrictedOptionsRegex = edrRepoRegex("--repo", repos, reposRegex, variable+".infrastructure_live_repositories", &s, notes, cname)
		}
		s.RestrictedOptionsRegex["--binary"] = edrBinaries
		if variable == "terraform_planner_config" {
			s.RestrictedOptionsRegex["--command"] = edrPlanCommands
		} else {
			s.RestrictedOptionsRegex["--command"] = edrApplyCommands
			if sc.AllowedApplyGitRefs == nil {
				notes.add(cname, false, "%s: allowed_apply_git_refs is null, so apply runs from any --ref, as in EDR", path)
			} else {
				s.RestrictedOptionsRegex["--ref"] = edrAlternation(sc.AllowedApplyGitRefs, nil)
				if len(sc.AllowedApplyGitRefs) == 0 {
					s.RestrictedOptionsRegex["--ref"] = `^$`
					notes.add(cname, false, "%s: allowed_apply_git_refs is empty, so no --ref may be applied", path)
				}
			}
		}
		ec.ScriptConfig["infrastructure-deploy-script"] = s
		if variable == "terraform_applier_config" {
			edrUpdateVariableScript(cname, sc, &ec, notes)
		}
	}
	return ec
}

// edrUpdateVariableScript adds the applier's terraform-update-variable.
func edrUpdateVariableScript(cname string, sc edrStdConfig, ec *edrContainer, notes *edrNotes) {
	path := "containers." + cname
	if len(sc.AllowedUpdateVariableNames) == 0 {
		notes.add(cname, true, "terraform_applier_config.allowed_update_variable_names is empty: terraform-update-variable could update nothing, so it is not listed")
		return
	}
	s := edrScript{
		AllowedOptions:            slices.Clone(edrUpdateVariableOptions),
		AllowedOptionsWithoutArgs: edrUpdateVariableFlags,
		RestrictedOptionsRegex:    map[string]string{"--name": edrAlternation(sc.AllowedUpdateVariableNames, nil)},
	}
	if u := sc.MachineUserGitInfo; u != nil && (u.Name != "" || u.Email != "") {
		s.HardcodedOptions = map[string][]string{}
		if u.Name != "" {
			s.HardcodedOptions["--git-user-name"] = []string{u.Name}
		}
		if u.Email != "" {
			s.HardcodedOptions["--git-user-email"] = []string{u.Email}
		}
	} else {
		notes.add(cname, false, "%s.script_config.terraform-update-variable: no machine_user_git_info, so commits use the image's git identity", path)
	}
	if re := edrAlternation(sc.InfrastructureLiveRepositories, sc.InfrastructureLiveRepositoriesRgx); re != "" {
		s.RestrictedOptionsRegex["--git-url"] = re
	}
	ec.ScriptConfig["terraform-update-variable"] = s
}

// edrRepoRegex is the restricted_options_regex limiting opt to the listed
// repositories; with none listed, opt is restricted instead.
func edrRepoRegex(opt string, repos, regexes []string, variable string, s *edrScript, notes *edrNotes, cname string) map[string]string {
	re := edrAlternation(repos, regexes)
	if re == "" {
		s.RestrictedOptions = append(s.RestrictedOptions, opt)
		notes.add(cname, false, "containers.%s: %s lists no repository, so %s may not be passed", cname, variable, opt)
		return map[string]string{}
	}
	return map[string]string{opt: re}
}

// edrAlternation is a whole-value expression matching any literal or any
// expression; "" when there are none.
func edrAlternation(literals, regexes []string) string {
	var parts []string
	for _, l := range literals {
		parts = append(parts, regexp.QuoteMeta(l))
	}
	parts = append(parts, regexes...)
	if len(parts) == 0 {
		return ""
	}
	return "^(?:" + strings.Join(parts, "|") + ")$"
}

// importEDRSizes applies the module-wide task size variables to every
// container.
func importEDRSizes(vars map[string]EDRVariable, cfg *schemas.Config, notes *edrNotes) error {
	ints := map[string]*int{}
	for _, name := range edrSizeVars[:4] {
		v, ok := vars[name]
		if !ok || v.Value == nil {
			continue
		}
		n, ok := v.Value.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil || i <= 0 || i > 1<<20 {
			return fmt.Errorf("%s: %s must be a positive whole number, got %s", v.Pos, name, jsonKind(v.Value))
		}
		x := int(i)
		ints[name] = &x
	}
	var launch string
	if v, ok := vars["container_default_launch_type"]; ok && v.Value != nil {
		s, ok := v.Value.(string)
		if !ok || (s != "FARGATE" && s != "EC2") {
			return fmt.Errorf("%s: container_default_launch_type must be \"FARGATE\" or \"EC2\", got %s", v.Pos, jsonKind(v.Value))
		}
		launch = s
	}
	if len(ints) == 0 && launch == "" {
		notes.add("", false, "no container_cpu, container_memory, container_max_cpu, container_max_memory or container_default_launch_type was set; the containers keep deployer's defaults (the task definition's size, no overrides, FARGATE)")
		return nil
	}
	for _, name := range sortedKeys(cfg.Containers) {
		c := cfg.Containers[name]
		set := func(dst *int, v string) {
			if p := ints[v]; p != nil {
				*dst = *p
			}
		}
		set(&c.TaskCPU, "container_cpu")
		set(&c.TaskMemory, "container_memory")
		set(&c.MaxTaskCPU, "container_max_cpu")
		set(&c.MaxTaskMemory, "container_max_memory")
		if launch != "" {
			c.LaunchTypes = []string{launch}
		}
		cfg.Containers[name] = c
	}
	notes.add("", false, "the module-wide container_cpu, container_memory, container_max_cpu, container_max_memory and container_default_launch_type were copied to every container (task_cpu, task_memory, max_task_cpu, max_task_memory, launch_types)")
	return nil
}

// decodeEDR decodes a JSON-model value into a typed struct, naming the
// offending field in the error (which starts with ".FIELD" or ":").
func decodeEDR(v any, dst any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf(": %w", err)
	}
	err = json.Unmarshal(raw, dst)
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Errorf(".%s must be %s, got %s", ute.Field, edrTypeName(ute.Type.String()), ute.Value)
	}
	if err != nil {
		return fmt.Errorf(": %w", err)
	}
	return nil
}

func edrTypeName(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list of strings"
	case strings.HasPrefix(goType, "map["):
		return "a map"
	default:
		return "an object"
	}
}

func jsonKind(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %s", quote(t))
	case bool:
		return "a bool"
	case json.Number:
		return "the number " + t.String()
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func nonEmptyKeys(m map[string]*string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		if m[k] != nil && *m[k] != "" {
			out = append(out, k)
		}
	}
	return out
}
