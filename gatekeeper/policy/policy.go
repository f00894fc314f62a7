package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// DefaultTimeout is the job timeout of containers and scripts that set
// none.
const DefaultTimeout = time.Hour

// DefaultLaunchType is the launch type of containers that list none.
const DefaultLaunchType = "FARGATE"

// Policy is a validated, compiled configuration. It is immutable and safe
// for concurrent use.
type Policy struct {
	raw        []byte // the normalized configuration, for Config
	source     string // SourceDigest of the bytes it was parsed from
	containers map[string]*container
	names      []string // sorted
}

type container struct {
	name, description     string
	image, taskDefinition string
	scriptsDir            string
	env, secrets          map[string]string
	callers               *callerSet
	cpu, memory           int
	maxCPU, maxMemory     int
	launchTypes           []string
	lane                  string
	laneLimit             int
	timeout               time.Duration // the scripts' default
	scripts               map[string]*script
	scriptNames           []string // sorted
}

type guardedOption struct{ id, spelled string }

type script struct {
	name, where string // where is "container/script", for messages

	hardcoded     []string          // rendered argv prefix
	hardcodedIDs  map[string]string // identity → rendered ("--opt value")
	hardcodedArgs []string
	// hardcodedArgsOptionLike is set when a hardcoded arg would read as
	// an option; a caller's "--" would turn it into a positional.
	hardcodedArgsOptionLike bool

	positional bool
	anyOption  bool              // allowed_options is null
	allowed    map[string]bool   // exact spellings: allowed_options ∪ allowed_options_without_args
	allowedIDs map[string]string // identity → a configured spelling
	flags      map[string]bool   // identities of options that take no value
	restricted map[string]string // identity → configured spelling
	valueRE    map[string]*regexp.Regexp
	valueSrc   map[string]string
	repeatable map[string]bool // identities
	refs       []*regexp.Regexp
	refSrc     []string
	callers    *callerSet
	timeout    time.Duration
	maxTimeout time.Duration
	retry      schemas.RetryPolicy
	// deadLetterOn is never nil: empty means no outcome dead-letters.
	deadLetterOn []schemas.Outcome
	allowedText  string // for messages: "allowed options: ..."
	// guarded are the restricted and hardcoded options, whose
	// abbreviations are refused where any option may be passed.
	guarded []guardedOption
	info    ScriptInfo
}

// Config returns a copy of the configuration as loaded, with every
// local.scripts_dir absolute.
func (p *Policy) Config() schemas.Config {
	var cfg schemas.Config
	// p.raw was produced by json.Marshal of a schemas.Config.
	if err := json.Unmarshal(p.raw, &cfg); err != nil {
		panic("policy: re-decoding the loaded configuration: " + err.Error())
	}
	return cfg
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compile checks what the schema cannot express and builds the policy.
func compile(cfg schemas.Config, baseDir string, o options) (*Policy, error) {
	var ps problems
	if baseDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("resolving the configuration directory: %w", err)
		}
		baseDir = wd
	}
	if len(cfg.Containers) == 0 {
		ps.add("containers", "must list at least one container")
	}
	p := &Policy{containers: make(map[string]*container, len(cfg.Containers))}
	cache := newCompileCache()
	for _, name := range sortedKeys(cfg.Containers) {
		cc := cfg.Containers[name]
		c := compileContainer(name, &cc, cfg.Lanes, baseDir, o, cache, &ps)
		cfg.Containers[name] = cc // with scripts_dir made absolute
		p.containers[name] = c
		p.names = append(p.names, name)
	}
	scheduleProblems(cfg, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	p.raw = raw
	return p, nil
}

func compileContainer(name string, cc *schemas.Container, lanes map[string]schemas.Lane, baseDir string, o options, cache *compileCache, ps *problems) *container {
	path := "containers." + name
	c := &container{
		name: name, description: cc.Description, image: cc.Image, taskDefinition: cc.TaskDefinition,
		env: cc.EnvironmentVars, secrets: cc.Secrets,
		cpu: cc.TaskCPU, memory: cc.TaskMemory,
		scripts: make(map[string]*script, len(cc.ScriptConfig)),
	}
	if cc.Image == "" && cc.TaskDefinition == "" && cc.Local == nil {
		ps.add(path, "needs at least one of image, task_definition and local")
	}
	if cc.Local != nil {
		dir := cc.Local.ScriptsDir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(baseDir, dir)
		}
		dir = filepath.Clean(dir)
		cc.Local = &schemas.LocalRunner{ScriptsDir: dir}
		c.scriptsDir = dir
		if o.local {
			if st, err := os.Stat(dir); err != nil { //nolint:gosec // the scripts directory the operator configured, checked on purpose
				ps.add(path+".local.scripts_dir", "directory %s does not exist", dir)
			} else if !st.IsDir() {
				ps.add(path+".local.scripts_dir", "%s is not a directory", dir)
			}
		}
	} else if o.local {
		ps.add(path+".local", "required by the local backend: set local.scripts_dir to the directory of the container's scripts")
	}

	for k := range cc.EnvironmentVars {
		if _, dup := cc.Secrets[k]; dup {
			ps.add(path+".secrets."+k, "%s is also set in environment_vars; set it in one place only", k)
		}
	}
	for k, ref := range cc.Secrets {
		if err := checkSecretRef(ref); err != nil {
			ps.add(path+".secrets."+k, "%v", err)
		}
	}
	c.callers = cache.callers(cc.AllowedCallers, path+".allowed_callers", ps)

	timeout := cc.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c.timeout = timeout
	if cc.MaxTimeout != 0 && cc.MaxTimeout.D() < timeout {
		ps.add(path+".max_timeout", "max_timeout %s is below timeout %s", cc.MaxTimeout, schemas.Duration(timeout))
	}

	c.maxCPU, c.maxMemory = cc.MaxTaskCPU, cc.MaxTaskMemory
	if c.maxCPU == 0 {
		c.maxCPU = c.cpu
	} else if c.maxCPU < c.cpu {
		ps.add(path+".max_task_cpu", "max_task_cpu %d is below task_cpu %d", c.maxCPU, c.cpu)
	}
	if c.maxMemory == 0 {
		c.maxMemory = c.memory
	} else if c.maxMemory < c.memory {
		ps.add(path+".max_task_memory", "max_task_memory %d is below task_memory %d", c.maxMemory, c.memory)
	}
	c.launchTypes = cc.LaunchTypes
	if len(c.launchTypes) == 0 {
		c.launchTypes = []string{DefaultLaunchType}
	}
	if slices.Contains(c.launchTypes, "FARGATE") && c.cpu > 0 {
		if c.memory > 0 {
			if why := checkFargate(c.cpu, c.memory); why != "" {
				ps.add(path+".task_memory", "%s", why)
			}
		} else if fargateMemory(c.cpu) == nil {
			ps.add(path+".task_cpu", "%s", checkFargate(c.cpu, 0))
		}
	}

	c.lane = cc.Lane
	if c.lane == "" {
		c.lane = schemas.DefaultLane
	}
	if l, ok := lanes[c.lane]; ok {
		c.laneLimit = l.Concurrency
	} else if c.lane == schemas.DefaultLane {
		c.laneLimit = schemas.DefaultLaneLimit
	} else {
		ps.add(path+".lane", "lane %s is not defined under lanes (defined: %s)", c.lane, list(sortedKeys(lanes), "none"))
	}

	var retry schemas.RetryPolicy
	if cc.Retry != nil {
		retry = *cc.Retry
	}
	deadLetterOn := schemas.DefaultDeadLetterOn()
	if cc.DeadLetterOn != nil {
		deadLetterOn = checkDeadLetterOn(cc.DeadLetterOn, path+".dead_letter_on", ps)
	}
	if len(cc.ScriptConfig) == 0 {
		ps.add(path+".script_config", "must list at least one script")
	}
	for _, sname := range sortedKeys(cc.ScriptConfig) {
		sc := cc.ScriptConfig[sname]
		s := compileScript(name, sname, &sc, path+".script_config."+sname, cache, ps)
		s.timeout = timeout
		if sc.Timeout != 0 {
			s.timeout = sc.Timeout.D()
		}
		s.maxTimeout = s.timeout
		if cc.MaxTimeout != 0 {
			s.maxTimeout = cc.MaxTimeout.D()
			if s.timeout > s.maxTimeout {
				ps.add(path+".script_config."+sname+".timeout", "timeout %s is above the container's max_timeout %s", schemas.Duration(s.timeout), cc.MaxTimeout)
			}
		}
		s.retry = retry
		if sc.Retry != nil {
			s.retry = *sc.Retry
		}
		s.deadLetterOn = deadLetterOn
		if sc.DeadLetterOn != nil {
			s.deadLetterOn = checkDeadLetterOn(sc.DeadLetterOn, path+".script_config."+sname+".dead_letter_on", ps)
		}
		s.info.Timeout, s.info.MaxTimeout = schemas.Duration(s.timeout), schemas.Duration(s.maxTimeout)
		if o.local && c.scriptsDir != "" {
			file := filepath.Join(c.scriptsDir, sname)
			if st, err := os.Stat(file); err != nil { //nolint:gosec // a script of the configured directory; script names are plain names (schema)
				ps.add(path+".script_config."+sname, "script file %s does not exist", file)
			} else if !st.Mode().IsRegular() {
				ps.add(path+".script_config."+sname, "%s is not a regular file", file)
			} else if st.Mode().Perm()&0o111 == 0 {
				ps.add(path+".script_config."+sname, "%s is not executable", file)
			}
		}
		c.scripts[sname] = s
		c.scriptNames = append(c.scriptNames, sname)
	}
	return c
}

// checkDeadLetterOn checks a dead_letter_on list and returns it, never
// nil.
func checkDeadLetterOn(on []schemas.Outcome, path string, ps *problems) []schemas.Outcome {
	out := make([]schemas.Outcome, 0, len(on))
	for i, o := range on {
		switch {
		case !slices.Contains(schemas.DefaultDeadLetterOn(), o):
			ps.add(fmt.Sprintf("%s.%d", path, i), "%s is not an outcome that can dead-letter a job; use failed, timed_out, could_not_start or lost", quote(string(o)))
		case slices.Contains(out, o):
			ps.add(fmt.Sprintf("%s.%d", path, i), "%s is listed twice", o)
		default:
			out = append(out, o)
		}
	}
	return out
}

func compileScript(cname, sname string, sc *schemas.ScriptConfig, path string, cache *compileCache, ps *problems) *script {
	s := &script{
		name: sname, where: cname + "/" + sname,
		hardcodedIDs: map[string]string{},
		positional:   sc.AllowPositionalArgs,
		anyOption:    sc.AllowedOptions == nil,
		allowed:      map[string]bool{},
		allowedIDs:   map[string]string{},
		flags:        map[string]bool{},
		restricted:   map[string]string{},
		valueRE:      map[string]*regexp.Regexp{},
		valueSrc:     map[string]string{},
		repeatable:   map[string]bool{},
	}
	checkName := func(p, opt string) bool {
		if !validOptionName(opt) {
			ps.add(p, "%s is not an option name: one or two ASCII dashes, then a letter or digit, then letters, digits, '.', '_' or '-'", quote(opt))
			return false
		}
		return true
	}

	hardcodedKeys := map[string]string{}
	for _, opt := range sortedKeys(sc.HardcodedOptions) {
		p := path + ".hardcoded_options." + opt
		if !checkName(p, opt) {
			continue
		}
		id := identity(opt)
		if prev, dup := hardcodedKeys[id]; dup {
			ps.add(p, "%s is the same option as %s, already hardcoded", opt, prev)
			continue
		}
		hardcodedKeys[id] = opt
		values := sc.HardcodedOptions[opt]
		rendered := []string{}
		if len(values) == 0 {
			s.hardcoded = append(s.hardcoded, opt)
			rendered = append(rendered, opt)
		}
		for i, v := range values {
			if bad := badChar(v); bad != "" {
				ps.add(fmt.Sprintf("%s.%d", p, i), "value contains %s", bad)
			}
			s.hardcoded = append(s.hardcoded, opt, v)
			rendered = append(rendered, opt, show(v))
		}
		s.hardcodedIDs[id] = strings.Join(rendered, " ")
	}
	for i, a := range sc.HardcodedArgs {
		if bad := badChar(a); bad != "" {
			ps.add(fmt.Sprintf("%s.hardcoded_args.%d", path, i), "argument contains %s", bad)
		}
		if k, _, _, _ := classify(a); k != tokPositional {
			s.hardcodedArgsOptionLike = true
		}
	}
	s.hardcodedArgs = sc.HardcodedArgs

	for _, opt := range sc.RestrictedOptions {
		if checkName(path+".restricted_options", opt) {
			s.restricted[identity(opt)] = opt
		}
	}
	addAllowed := func(field string, opts []string, flag bool) {
		for _, opt := range opts {
			p := path + "." + field
			if !checkName(p, opt) {
				continue
			}
			id := identity(opt)
			if r, ok := s.restricted[id]; ok {
				ps.add(p, "%s is also restricted (as %s); an option cannot be both allowed and restricted", opt, r)
			}
			if h, ok := s.hardcodedIDs[id]; ok {
				ps.add(p, "%s is hardcoded (%s), so callers can never pass it; remove it from %s", opt, h, field)
			}
			s.allowed[opt] = true
			if _, ok := s.allowedIDs[id]; !ok {
				s.allowedIDs[id] = opt
			}
			if flag {
				s.flags[id] = true
			}
		}
	}
	addAllowed("allowed_options", sc.AllowedOptions, false)
	addAllowed("allowed_options_without_args", sc.AllowedOptionsWithoutArgs, true)

	for _, opt := range sortedKeys(sc.RestrictedOptionsRegex) {
		p := path + ".restricted_options_regex." + opt
		if !checkName(p, opt) {
			continue
		}
		id := identity(opt)
		expr := sc.RestrictedOptionsRegex[opt]
		if _, dup := s.valueRE[id]; dup {
			ps.add(p, "%s is the same option as another key of restricted_options_regex", opt)
			continue
		}
		if s.flags[id] {
			ps.add(p, "%s takes no value (it is in allowed_options_without_args), so a value pattern cannot apply", opt)
		}
		re, err := cache.regexp(expr)
		if err != nil {
			ps.add(p, "invalid regular expression %s: %v", quote(expr), regexpReason(err))
			continue
		}
		s.valueRE[id], s.valueSrc[id] = re, expr
	}
	for _, opt := range sc.RepeatableOptions {
		p := path + ".repeatable_options"
		if !checkName(p, opt) {
			continue
		}
		id := identity(opt)
		if h, ok := s.hardcodedIDs[id]; ok {
			ps.add(p, "%s is hardcoded (%s); callers cannot pass it, let alone repeat it", opt, h)
		}
		s.repeatable[id] = true
	}
	for i, expr := range sc.AllowedRefs {
		re, err := cache.regexp(expr)
		if err != nil {
			ps.add(fmt.Sprintf("%s.allowed_refs.%d", path, i), "invalid regular expression %s: %v", quote(expr), regexpReason(err))
			continue
		}
		s.refs = append(s.refs, re)
		s.refSrc = append(s.refSrc, expr)
	}
	s.callers = cache.callers(sc.AllowedCallers, path+".allowed_callers", ps)

	for id, spelled := range s.restricted {
		s.guarded = append(s.guarded, guardedOption{id, spelled})
	}
	for id := range s.hardcodedIDs {
		s.guarded = append(s.guarded, guardedOption{id, hardcodedKeys[id]})
	}
	sort.Slice(s.guarded, func(i, j int) bool { return s.guarded[i].id < s.guarded[j].id })
	allowedList := sortedKeys(s.allowed)
	switch {
	case s.anyOption && len(s.restricted) > 0:
		s.allowedText = "any option except: " + strings.Join(sortedValues(s.restricted), ", ")
	case s.anyOption:
		s.allowedText = "any option"
	default:
		s.allowedText = "allowed options: " + list(allowedList, "none")
	}
	s.info = ScriptInfo{
		Name:                      sname,
		AnyOption:                 s.anyOption,
		AllowedOptions:            slices.Clone(sc.AllowedOptions),
		AllowedOptionsWithoutArgs: slices.Clone(sc.AllowedOptionsWithoutArgs),
		RestrictedOptions:         slices.Clone(sc.RestrictedOptions),
		RepeatableOptions:         slices.Clone(sc.RepeatableOptions),
		AllowPositionalArgs:       sc.AllowPositionalArgs,
		HardcodedArgv:             slices.Clone(s.hardcoded),
		HardcodedArgs:             slices.Clone(sc.HardcodedArgs),
		AllowedRefs:               slices.Clone(sc.AllowedRefs),
	}
	if len(sc.RestrictedOptionsRegex) > 0 {
		s.info.OptionPatterns = map[string]string{}
		for k, v := range sc.RestrictedOptionsRegex {
			s.info.OptionPatterns[k] = v
		}
	}
	return s
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// regexpReason shortens regexp's error to its reason.
func regexpReason(err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, "error parsing regexp: ")
}

// compileCache shares compiled expressions between the scripts of one
// configuration, which tend to repeat the same patterns. Compiled
// expressions are safe for concurrent use.
type compileCache struct {
	res     map[string]*regexp.Regexp
	errs    map[string]error
	callerP map[string]callerPattern
}

func newCompileCache() *compileCache {
	return &compileCache{res: map[string]*regexp.Regexp{}, errs: map[string]error{}, callerP: map[string]callerPattern{}}
}

// regexp compiles expr to match whole values.
func (c *compileCache) regexp(expr string) (*regexp.Regexp, error) {
	if re, ok := c.res[expr]; ok {
		return re, nil
	}
	if err, ok := c.errs[expr]; ok {
		return nil, err
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		c.errs[expr] = err
		return nil, err
	}
	c.res[expr] = re
	return re, nil
}

// callers compiles an allowed_callers list, reporting bad patterns.
func (c *compileCache) callers(list []string, path string, ps *problems) *callerSet {
	if list == nil {
		return nil
	}
	cs := &callerSet{source: list}
	for i, p := range list {
		cp, ok := c.callerP[p]
		if !ok {
			var err error
			if cp, err = compileCallerPattern(p); err != nil {
				ps.add(fmt.Sprintf("%s.%d", path, i), "%v", err)
				continue
			}
			c.callerP[p] = cp
		}
		if p == "*" {
			cs.anyone = true
		}
		cs.patterns = append(cs.patterns, cp)
	}
	return cs
}
