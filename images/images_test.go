package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	line int    // where it starts, 1-based
	cmd  string // upper case: FROM, RUN, ...
	args string // the rest, continuations joined with a space
}

// stage is a FROM and what follows it, up to the next FROM.
type stage struct {
	from  instruction
	image string // the image reference, flags (--platform) dropped
	name  string // after AS, lower case; "" when unnamed
	body  []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM and
// the stages in order.
type dockerfile struct {
	globalArgs []instruction
	stages     []stage
}

// parse reads the subset of the Dockerfile syntax the images use: the
// default escape character (backslash), comment and blank lines (also
// inside a continuation, where Docker drops them), parser directives as
// comments, and instructions of any case.
func parse(src string) (*dockerfile, error) {
	var ins []instruction
	var cur *instruction
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // a comment or blank line, also inside a continuation
		}
		cont := strings.HasSuffix(line, `\`)
		if cont {
			line = strings.TrimSuffix(line, `\`)
		}
		if cur == nil {
			cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
			if !regexp.MustCompile(`^[A-Za-z]+$`).MatchString(cmd) {
				return nil, fmt.Errorf("line %d: %q is not an instruction", i+1, cmd)
			}
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if !cont {
			ins = append(ins, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the file ends inside a continuation", cur.line)
	}
	df := &dockerfile{}
	for _, in := range ins {
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(fields) != 1 && (len(fields) != 3 || !strings.EqualFold(fields[1], "AS")) {
				return nil, fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", in.line, in.args)
			}
			st := stage{from: in, image: fields[0]}
			if len(fields) == 3 {
				st.name = strings.ToLower(fields[2])
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			df.globalArgs = append(df.globalArgs, in)
			continue
		}
		last := &df.stages[len(df.stages)-1]
		last.body = append(last.body, in)
	}
	if len(df.stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return df, nil
}

// args returns the stage's ARGs: name → default ("" when none).
func (s stage) args() map[string]string {
	out := map[string]string{}
	for _, in := range s.body {
		if in.cmd != "ARG" {
			continue
		}
		name, def, _ := strings.Cut(in.args, "=")
		out[name] = strings.Trim(def, `"`)
	}
	return out
}

// env returns the stage's ENV as set by "ENV K=V [K=V...]" (values without
// spaces or quoted with double quotes).
func (s stage) env() map[string]string {
	out := map[string]string{}
	for _, in := range s.body {
		if in.cmd != "ENV" {
			continue
		}
		for _, m := range regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)`).FindAllStringSubmatch(in.args, -1) {
			out[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	return out
}

// last returns the stage's last instruction of cmd (the one Docker keeps
// for ENTRYPOINT and USER), or nil.
func (s stage) last(cmd string) *instruction {
	for i := len(s.body) - 1; i >= 0; i-- {
		if s.body[i].cmd == cmd {
			return &s.body[i]
		}
	}
	return nil
}

// taskCommand is the command every task image runs as its entrypoint
// (DESIGN.md, "Inside the task").
const taskCommand = "deployer-task"

// rules are what one image must satisfy beyond the rules of every image.
type rules struct {
	// command is the command of this repository the image runs, built
	// from ./cmd/<command> with its version stamped, copied into the
	// final stage and run as its entrypoint. Task images run
	// taskCommand; the worker's image runs "worker".
	command    string
	entrypoint []string // the final stage's exec-form ENTRYPOINT
	scriptsDir string   // task images: DEPLOYER_SCRIPTS_DIR of the final stage, where the standard scripts are copied
	nonRoot    bool     // the final stage runs as a non-root USER
	tools      []string // binaries whose download the image must check (by ARG prefix: TERRAFORM → TERRAFORM_VERSION, TERRAFORM_SHA256)
	git        bool     // git installed in the final stage, its version an ARG
}

// task reports whether the image is a task image: it runs deployer-task
// and carries the standard scripts. Any other image (the worker's) must
// carry neither.
func (r rules) task() bool { return r.command == taskCommand }

var (
	digestRef  = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	sha256Hex  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	argRef     = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	urlInRun   = regexp.MustCompile(`https?://\S+`)
	downloader = regexp.MustCompile(`\b(curl|wget)\b`)
	apkAdd     = regexp.MustCompile(`\bapk add\b`)
	rootUser   = regexp.MustCompile(`^(root|0)(:|$)`)
	scriptsSrc = regexp.MustCompile(`(^|\s)config/standard/scripts/?(\s|$)`)
	// credential names no ARG or ENV may have: build arguments and
	// environment are kept in the image's history and config, readable by
	// anyone who can pull it. Secrets reach tasks as references, and AWS
	// credentials come from the task role.
	credential = regexp.MustCompile(`(?i)(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)`)
)

// names returns the names an ARG or ENV instruction declares: "NAME",
// "NAME=VALUE ...", or ENV's legacy "NAME VALUE".
func (in instruction) names() []string {
	fields := strings.Fields(in.args)
	if len(fields) == 0 {
		return nil
	}
	if !strings.Contains(fields[0], "=") {
		return []string{fields[0]}
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=`).FindAllStringSubmatch(in.args, -1) {
		out = append(out, m[1])
	}
	return out
}

// copyFrom returns a "COPY --from=..." instruction's sources and
// destination, and whether it is one.
func (in instruction) copyFrom() (srcs []string, dst string, ok bool) {
	if in.cmd != "COPY" {
		return nil, "", false
	}
	var rest []string
	from := false
	for _, f := range strings.Fields(in.args) {
		switch {
		case strings.HasPrefix(f, "--from="):
			from = true
		case !strings.HasPrefix(f, "--"):
			rest = append(rest, f)
		}
	}
	if !from || len(rest) < 2 {
		return nil, "", false
	}
	return rest[:len(rest)-1], rest[len(rest)-1], true
}

// check returns every way df breaks the rules, joined.
func check(df *dockerfile, r rules) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkPins(df, r, fail)
	checkBuild(df, r, fail)
	checkFinal(df, r, fail)
	if r.task() {
		checkTask(df, r, fail)
	} else {
		checkNotTask(df, fail)
	}
	return errors.Join(errs...)
}

// failFunc records one broken rule.
type failFunc func(format string, a ...any)

// checkPins: every base image is pinned by digest, every download is
// checked against a pinned checksum, and no ARG or ENV is named like a
// credential.
func checkPins(df *dockerfile, r rules, fail failFunc) {
	stages := map[string]bool{}
	downloaded := map[string]bool{}
	for _, in := range df.globalArgs {
		checkNotCredential(in, fail)
	}
	for _, st := range df.stages {
		// Every base image is pinned by digest, unless it is an earlier stage.
		if !stages[strings.ToLower(st.image)] && !digestRef.MatchString(st.image) {
			fail("line %d: FROM %s is not pinned by digest (@sha256:...)", st.from.line, st.image)
		}
		if strings.Contains(st.image, "$") {
			fail("line %d: FROM %s takes its image from an ARG: pin it in the file", st.from.line, st.image)
		}
		if st.name != "" {
			stages[st.name] = true
		}
		args := st.args()
		for _, in := range st.body {
			switch in.cmd {
			case "ARG", "ENV":
				checkNotCredential(in, fail)
			case "ADD":
				if urlInRun.MatchString(in.args) {
					fail("line %d: ADD of a URL: download in a RUN that checks the checksum", in.line)
				}
			case "RUN":
				if !downloader.MatchString(in.args) && !urlInRun.MatchString(in.args) {
					continue
				}
				// A download: its URL's version is an ARG of the stage, and
				// the same RUN checks the file against that tool's
				// checksum ARG.
				for _, u := range urlInRun.FindAllString(in.args, -1) {
					var versions []string
					for _, m := range argRef.FindAllStringSubmatch(u, -1) {
						if strings.HasSuffix(m[1], "_VERSION") {
							versions = append(versions, m[1])
						}
					}
					if len(versions) == 0 {
						fail("line %d: %s: the version is not an ARG (NAME_VERSION)", in.line, u)
						continue
					}
					for _, v := range versions {
						tool := strings.TrimSuffix(v, "_VERSION")
						sum := tool + "_SHA256"
						if _, ok := args[v]; !ok {
							fail("line %d: %s is not an ARG of the stage", in.line, v)
						} else if args[v] == "" {
							fail("line %d: %s has no default: pin the version in the file", in.line, v)
						}
						def, ok := args[sum]
						switch {
						case !ok:
							fail("line %d: no ARG %s for the download of %s", in.line, sum, tool)
						case def != "" && !sha256Hex.MatchString(def):
							fail("line %d: %s=%q is not a sha256 (64 lower-case hex digits)", in.line, sum, def)
						}
						if !regexp.MustCompile(`\$\{?` + sum + `\b[^|;&]*\|\s*sha256sum\s+(-c|--check)\b`).MatchString(in.args) {
							fail("line %d: the RUN downloading %s does not check it against ${%s} with sha256sum -c", in.line, tool, sum)
						}
						downloaded[tool] = true
					}
				}
			}
		}
	}
	for _, tool := range r.tools {
		if !downloaded[tool] {
			fail("%s is not downloaded with a checked %s_VERSION and %s_SHA256", strings.ToLower(tool), tool, tool)
		}
	}
}

func checkNotCredential(in instruction, fail failFunc) {
	for _, name := range in.names() {
		if credential.MatchString(name) {
			fail("line %d: %s %s: a credential in the image (its history keeps build arguments and environment): secrets reach tasks as references, AWS credentials from the task role", in.line, in.cmd, name)
		}
	}
}

// checkBuild: the image's command comes from this repository, built
// static and reproducible, with its version stamped.
func checkBuild(df *dockerfile, r rules, fail failFunc) {
	built := false
	for _, st := range df.stages {
		for _, in := range st.body {
			if in.cmd != "RUN" || !regexp.MustCompile(`\./cmd/`+regexp.QuoteMeta(r.command)+`(\s|$)`).MatchString(in.args) {
				continue
			}
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}"} {
				if !strings.Contains(in.args, want) {
					fail("line %d: the build of %s lacks %s", in.line, r.command, want)
				}
			}
			if _, ok := st.args()["VERSION"]; !ok {
				fail("line %d: the stage building %s has no ARG VERSION: -X main.version=${VERSION} would stamp an empty version", in.line, r.command)
			}
		}
	}
	if !built {
		fail("no stage builds ./cmd/%s", r.command)
	}
}

// checkFinal: the final stage runs the built command as its exec-form
// entrypoint, without a CMD, as a non-root user where the image can, with
// CA certificates for TLS.
func checkFinal(df *dockerfile, r rules, fail failFunc) {
	final := df.stages[len(df.stages)-1]
	if ep := final.last("ENTRYPOINT"); ep == nil {
		fail("the final stage has no ENTRYPOINT")
	} else {
		var got []string
		if err := json.Unmarshal([]byte(ep.args), &got); err != nil {
			fail("line %d: ENTRYPOINT %s is not the exec form (a JSON array): %v", ep.line, ep.args, err)
		} else if !slices.Equal(got, r.entrypoint) {
			fail("line %d: ENTRYPOINT %q, want %q", ep.line, got, r.entrypoint)
		}
	}
	if len(r.entrypoint) > 0 {
		copied := false
		for _, in := range final.body {
			srcs, dst, ok := in.copyFrom()
			if !ok {
				continue
			}
			for _, src := range srcs {
				if path.Base(src) == r.command && (dst == r.entrypoint[0] || path.Join(dst, r.command) == r.entrypoint[0] && strings.HasSuffix(dst, "/")) {
					copied = true
				}
			}
		}
		if !copied {
			fail("the final stage does not COPY the built %s from a build stage to %s", r.command, r.entrypoint[0])
		}
	}
	if ep := final.last("CMD"); ep != nil {
		if r.task() {
			fail("line %d: CMD in the final stage: the worker passes the script and its arguments", ep.line)
		} else {
			fail("line %d: CMD in the final stage: the task definition passes the %s's flags", ep.line, r.command)
		}
	}
	if r.nonRoot {
		u := final.last("USER")
		switch {
		case u == nil:
			fail("the final stage has no USER: it would run as root")
		case rootUser.MatchString(u.args):
			fail("line %d: USER %s is root", u.line, u.args)
		}
	}
	certs := false
	for _, in := range final.body {
		if in.cmd == "RUN" && apkAdd.MatchString(in.args) && regexp.MustCompile(`(^|\s)"?ca-certificates\b`).MatchString(in.args) {
			certs = true
		}
	}
	if !certs {
		fail("the final stage does not apk add ca-certificates: TLS to AWS and git remotes would fail")
	}
}

// checkTask: a task image carries the standard scripts where
// DEPLOYER_SCRIPTS_DIR says, and git at a pinned series where wanted.
func checkTask(df *dockerfile, r rules, fail failFunc) {
	final := df.stages[len(df.stages)-1]
	if got := final.env()["DEPLOYER_SCRIPTS_DIR"]; got != r.scriptsDir {
		fail("the final stage's DEPLOYER_SCRIPTS_DIR is %q, want %q", got, r.scriptsDir)
	}
	copied := false
	for _, in := range final.body {
		if in.cmd == "COPY" && regexp.MustCompile(`(^|\s)config/standard/scripts/?\s+`+regexp.QuoteMeta(r.scriptsDir)+`/?$`).MatchString(in.args) {
			copied = true
		}
	}
	if !copied {
		fail("the final stage does not COPY config/standard/scripts/ to %s", r.scriptsDir)
	}
	if r.git {
		args := final.args()
		run := ""
		for _, in := range final.body {
			if in.cmd == "RUN" && apkAdd.MatchString(in.args) {
				run = in.args
			}
		}
		switch {
		case !strings.Contains(run, `git~${GIT_VERSION}`):
			fail("the final stage does not install git~${GIT_VERSION}")
		case args["GIT_VERSION"] == "":
			fail("GIT_VERSION is not an ARG with a default in the final stage")
		}
	}
}

// checkNotTask: an image that is not a task image (the worker's) runs no
// script: no deployer-task, no standard scripts, no scripts directory.
func checkNotTask(df *dockerfile, fail failFunc) {
	for _, st := range df.stages {
		for _, in := range st.body {
			switch {
			case in.cmd == "RUN" && strings.Contains(in.args, "./cmd/"+taskCommand):
				fail("line %d: builds %s: only task images run scripts", in.line, taskCommand)
			case in.cmd == "COPY" && strings.Contains(in.args, taskCommand):
				fail("line %d: copies %s: only task images run scripts", in.line, taskCommand)
			case in.cmd == "COPY" && scriptsSrc.MatchString(in.args):
				fail("line %d: copies config/standard/scripts: only task images carry the scripts", in.line)
			}
		}
		if _, ok := st.env()["DEPLOYER_SCRIPTS_DIR"]; ok {
			fail("stage %q sets DEPLOYER_SCRIPTS_DIR: only task images have a scripts directory", st.from.args)
		}
	}
}

// images are the Dockerfiles and their rules.
var images = map[string]rules{
	"deploy-runner": {
		command:    taskCommand,
		entrypoint: []string{"/usr/local/bin/deployer-task"},
		scriptsDir: "/scripts",
		nonRoot:    true,
		tools:      []string{"TERRAFORM", "TERRAGRUNT", "PACKER"},
		git:        true,
	},
	"kaniko": {
		command:    taskCommand,
		entrypoint: []string{"/kaniko/deployer-task"},
		scriptsDir: "/kaniko/scripts",
		git:        true,
	},
	"worker": {
		command:    "worker",
		entrypoint: []string{"/usr/local/bin/worker"},
		nonRoot:    true,
	},
}

func read(t *testing.T, image string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(image, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfiles(t *testing.T) {
	for image, r := range images {
		t.Run(image, func(t *testing.T) {
			if r.task() != (r.scriptsDir != "") {
				t.Fatalf("rules of %s: a task image (command %s) has a scriptsDir, any other image none", image, taskCommand)
			}
			df, err := parse(read(t, image))
			if err != nil {
				t.Fatalf("parsing %s/Dockerfile: %v", image, err)
			}
			if err := check(df, r); err != nil {
				t.Fatalf("%s/Dockerfile:\n%v", image, err)
			}
			// Unset checksums fail "make images" with the ARG named; say so here too.
			for _, st := range df.stages {
				for name, def := range st.args() {
					if strings.HasSuffix(name, "_SHA256") && def == "" {
						t.Logf("%s/Dockerfile: %s is not pinned yet: make images fails until it is", image, name)
					}
				}
			}
		})
	}
}

// Every Dockerfile of images/ is held to rules, has its build context
// filter, is built by "make images" and rebuilt by docs/upgrading.md: a
// new image cannot go unchecked or be left for users to build by hand.
func TestEveryImageIsCheckedBuiltAndDocumented(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, f := range files {
		dirs = append(dirs, filepath.Dir(f))
	}
	var want []string
	for image := range images {
		want = append(want, image)
	}
	slices.Sort(want)
	if !slices.Equal(dirs, want) {
		t.Fatalf("images/*/Dockerfile are %q, the rules in images_test.go cover %q: add the image's rules", dirs, want)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`for img in ([a-z0-9 -]+); do`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal(`Makefile: no "for img in ...; do" in the images target`)
	}
	built := strings.Fields(string(m[1]))
	slices.Sort(built)
	if !slices.Equal(built, want) {
		t.Errorf("make images builds %q, want %q", built, want)
	}
	upgrading, err := os.ReadFile("../docs/upgrading.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, image := range want {
		if _, err := os.Stat(filepath.Join(image, "Dockerfile.dockerignore")); err != nil {
			t.Errorf("%s has no Dockerfile.dockerignore: the whole repository would be its build context: %v", image, err)
		}
		if !strings.Contains(string(upgrading), "--dockerfile-path images/"+image+"/Dockerfile") {
			t.Errorf("docs/upgrading.md does not rebuild images/%s/Dockerfile through the docker-image-builder", image)
		}
	}
}

// The version the builds stamp has a variable to land in: -X on a missing
// variable is silently ignored.
func TestVersionStampLands(t *testing.T) {
	commands := map[string]bool{}
	for _, r := range images {
		commands[r.command] = true
	}
	for command := range commands {
		files, err := filepath.Glob(filepath.Join("..", "cmd", command, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f) //nolint:gosec // the repository's own files
			if err != nil {
				t.Fatal(err)
			}
			found = found || regexp.MustCompile(`(?m)^var version = "dev"$`).Match(b)
		}
		if !found {
			t.Errorf(`cmd/%s has no 'var version = "dev"' for -X main.version`, command)
		}
	}
}

// The check fails when a Dockerfile breaks a rule: each case changes one
// image's file once and must be reported.
func TestCheckCatchesDrift(t *testing.T) {
	type drift struct{ name, old, new, says string }
	const (
		alpine = "FROM alpine:3.21@sha256:48b0309ca019d89d40f670aa1bc06e426dc0931948452e8491e3d65087abc07d\n"
		golang = "golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build"
	)
	for image, cases := range map[string][]drift{
		"deploy-runner": {
			{"base image by tag", alpine, "FROM alpine:3.21\n", "FROM alpine:3.21 is not pinned"},
			{"builder by tag", golang, "golang:1.26 AS build", "FROM golang:1.26 is not pinned"},
			{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/deployer-task"]`, `ENTRYPOINT /usr/local/bin/deployer-task`, "not the exec form"},
			{"another entrypoint", `ENTRYPOINT ["/usr/local/bin/deployer-task"]`, `ENTRYPOINT ["/bin/sh", "-c"]`, `want ["/usr/local/bin/deployer-task"]`},
			{"no user", "USER 10001:10001\n", "", "no USER"},
			{"root user", "USER 10001:10001\n", "USER root\n", "USER root is root"},
			{"checksum not checked", ` && echo "${PACKER_SHA256}  packer.zip" | sha256sum -c - \` + "\n", "", "the RUN downloading PACKER does not check it"},
			{"checksum ARG missing", "ARG TERRAGRUNT_SHA256=\n", "", "no ARG TERRAGRUNT_SHA256"},
			{"checksum ARG not a sha256", "ARG TERRAFORM_SHA256=\n", "ARG TERRAFORM_SHA256=abc\n", `TERRAFORM_SHA256="abc" is not a sha256`},
			{"version not an ARG", `"https://releases.hashicorp.com/packer/${PACKER_VERSION}/packer_${PACKER_VERSION}_linux_amd64.zip"`, `"https://releases.hashicorp.com/packer/1.11.2/packer_1.11.2_linux_amd64.zip"`, "the version is not an ARG"},
			{"version ARG without default", "ARG PACKER_VERSION=1.11.2\n", "ARG PACKER_VERSION\n", "PACKER_VERSION has no default"},
			{"ADD of a URL", "COPY --from=build /out/deployer-task /usr/local/bin/deployer-task\n", "ADD https://example.com/x /x\nCOPY --from=build /out/deployer-task /usr/local/bin/deployer-task\n", "ADD of a URL"},
			{"scripts elsewhere", "DEPLOYER_SCRIPTS_DIR=/scripts", "DEPLOYER_SCRIPTS_DIR=/opt/scripts", `DEPLOYER_SCRIPTS_DIR is "/opt/scripts"`},
			{"scripts not copied", "COPY --chmod=0755 config/standard/scripts/ /scripts/\n", "", "does not COPY config/standard/scripts/"},
			{"cgo on", "RUN CGO_ENABLED=0 go build", "RUN go build", "lacks CGO_ENABLED=0"},
			{"version not stamped", ` -X main.version=${VERSION}`, ``, "lacks -X main.version"},
			{"git unpinned", `"git~${GIT_VERSION}"`, `git`, "does not install git~${GIT_VERSION}"},
			{"builds the worker instead", "./cmd/deployer-task\n", "./cmd/worker\n", "no stage builds ./cmd/deployer-task"},
			{"deployer-task not copied", "COPY --from=build /out/deployer-task /usr/local/bin/deployer-task\n", "", "does not COPY the built deployer-task from a build stage to /usr/local/bin/deployer-task"},
			{"a token in the environment", "TF_IN_AUTOMATION=1\n", "TF_IN_AUTOMATION=1 GITHUB_TOKEN=x\n", "ENV GITHUB_TOKEN: a credential in the image"},
		},
		"kaniko": {
			{"the worker as entrypoint", `ENTRYPOINT ["/kaniko/deployer-task"]`, `ENTRYPOINT ["/usr/local/bin/worker"]`, `want ["/kaniko/deployer-task"]`},
			{"no CA certificates", " bash ca-certificates openssh-client", " bash openssh-client", "does not apk add ca-certificates"},
		},
		"worker": {
			{"base image by tag", alpine, "FROM alpine:3.21\n", "FROM alpine:3.21 is not pinned"},
			{"builder by tag", golang, "golang:1.26 AS build", "FROM golang:1.26 is not pinned"},
			{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/worker"]`, `ENTRYPOINT /usr/local/bin/worker`, "not the exec form"},
			{"deployer-task as entrypoint", `ENTRYPOINT ["/usr/local/bin/worker"]`, `ENTRYPOINT ["/usr/local/bin/deployer-task"]`, `want ["/usr/local/bin/worker"]`},
			{"a CMD", "USER 10001:10001\n", "USER 10001:10001\nCMD [\"--capacity\", \"10\"]\n", "CMD in the final stage: the task definition passes the worker's flags"},
			{"no user", "USER 10001:10001\n", "", "no USER"},
			{"root user", "USER 10001:10001\n", "USER 0:0\n", "USER 0:0 is root"},
			{"no CA certificates", "apk add --no-cache ca-certificates", "apk add --no-cache tzdata", "does not apk add ca-certificates"},
			{"cgo on", "RUN CGO_ENABLED=0 go build", "RUN go build", "the build of worker lacks CGO_ENABLED=0"},
			{"not trimpath", " -trimpath", "", "the build of worker lacks -trimpath"},
			{"version not stamped", ` -X main.version=${VERSION}`, ``, "the build of worker lacks -X main.version"},
			{"VERSION not an ARG", "ARG VERSION=dev\n", "", "no ARG VERSION"},
			{"builds deployer-task instead", "./cmd/worker\n", "./cmd/deployer-task\n", "no stage builds ./cmd/worker"},
			{"also builds deployer-task", "./cmd/worker\n", "./cmd/worker\nRUN CGO_ENABLED=0 go build -trimpath -o /out/deployer-task ./cmd/deployer-task\n", "builds deployer-task: only task images run scripts"},
			{"worker not copied", "COPY --from=build /out/worker /usr/local/bin/worker\n", "COPY --from=build /out/worker /opt/\n", "does not COPY the built worker from a build stage to /usr/local/bin/worker"},
			{"carries the scripts", "USER 10001:10001\n", "COPY --chmod=0755 config/standard/scripts/ /scripts/\nUSER 10001:10001\n", "copies config/standard/scripts: only task images"},
			{"a scripts directory", "USER 10001:10001\n", "ENV DEPLOYER_SCRIPTS_DIR=/scripts\nUSER 10001:10001\n", "sets DEPLOYER_SCRIPTS_DIR: only task images"},
			{"AWS keys in the environment", "USER 10001:10001\n", "ENV AWS_ACCESS_KEY_ID=AKIA AWS_SECRET_ACCESS_KEY=x\nUSER 10001:10001\n", "ENV AWS_ACCESS_KEY_ID: a credential in the image"},
			{"a secret build argument", "ARG VERSION=dev\n", "ARG VERSION=dev\nARG NPM_TOKEN\n", "ARG NPM_TOKEN: a credential in the image"},
			{"a legacy-form secret", "USER 10001:10001\n", "ENV DB_PASSWORD hunter2\nUSER 10001:10001\n", "ENV DB_PASSWORD: a credential in the image"},
		},
	} {
		for _, tt := range cases {
			t.Run(image+"/"+tt.name, func(t *testing.T) {
				src := read(t, image)
				if !strings.Contains(src, tt.old) {
					t.Fatalf("%s/Dockerfile no longer holds %q: update this case", image, tt.old)
				}
				df, err := parse(strings.Replace(src, tt.old, tt.new, 1))
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				err = check(df, images[image])
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("check: %v\nwant an error saying %q", err, tt.says)
				}
			})
		}
	}
}

func TestParse(t *testing.T) {
	df, err := parse("# syntax=docker/dockerfile:1\nARG A=1\nfrom x@sha256:" + strings.Repeat("a", 64) + " as B\nRUN one \\\n  # a comment inside\n\n  two \\\n  three\nentrypoint [\"/x\"]\nFROM --platform=linux/amd64 b\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(df.globalArgs) != 1 || len(df.stages) != 2 {
		t.Fatalf("got %d global ARGs and %d stages, want 1 and 2", len(df.globalArgs), len(df.stages))
	}
	if st := df.stages[0]; st.name != "b" || len(st.body) != 2 || st.body[0].args != "one two three" || st.body[1].cmd != "ENTRYPOINT" {
		t.Fatalf("first stage: %+v", st)
	}
	if df.stages[1].image != "b" {
		t.Fatalf("second stage's image %q, want b (the --platform flag dropped)", df.stages[1].image)
	}
	for _, bad := range []string{"", "RUN x\n", "FROM a \\\n", "FROM a b\n", "FROM a\n!!! x\n"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q): no error", bad)
		}
	}
}
