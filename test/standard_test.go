package test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/config/standard"
)

// The standard configuration (config/standard), run end to end on the
// embedded backend with the stub tools of config/standard/stubs on the
// task's PATH (set through environment_vars of a stub-run copy; the task's
// environment is otherwise the runner's minimal one). Each stub records
// its working directory and arguments in STUB_LOG.

// gitCredentialHelper is the helper the scripts give git: it reads the
// token from the environment when git asks, so no argument holds it.
const gitCredentialHelper = `credential.helper=!f() { test "$1" = get || return 0; echo username=x-access-token; printf "password=%s\n" "${GITHUB_OAUTH_TOKEN:-}"; }; f`

// noCI clears the variables from which "deployer run" takes the caller's
// CI ref, so the test's own CI does not decide allowed_refs.
var noCI = []string{"GITHUB_ACTIONS=", "GITLAB_CI=", "CIRCLECI=", "BUILDKITE=", "JENKINS_URL="}

// standardEnv is a state directory running the standard configuration
// with stubs; log is the stubs' record.
type standardEnv struct {
	*env
	log string
}

func newStandard(t *testing.T) *standardEnv {
	t.Helper()
	return newStandardFrom(t, "../config/standard/deployer.yaml")
}

// newStandardFrom is newStandard on the configuration at src (beside
// which its scripts and stubs are).
func newStandardFrom(t *testing.T, src string) *standardEnv {
	t.Helper()
	root := t.TempDir()
	tree := filepath.Join(root, "tree")
	for name, body := range map[string]string{
		"live/prod/vpc/main.tf":          "resource \"terraform_data\" \"vpc\" {}\n",
		"live/prod/app/terragrunt.hcl":   "terraform {}\n",
		"packer/ami.pkr.hcl":             "build {}\n",
		"packer/vars/prod.pkrvars.hcl":   "region = \"us-east-1\"\n",
		"packer/vars/common.pkrvars.hcl": "owner = \"platform\"\n",
		"app/Dockerfile":                 "FROM scratch\n",
		"Dockerfile":                     "FROM scratch\n",
		"modules/ecs-deploy-runner/docker/deploy-runner/Dockerfile": "FROM scratch\n",
		"modules/ecs-deploy-runner/docker/kaniko/Dockerfile":        "FROM scratch\n",
		"images/deploy-runner/Dockerfile":                           "FROM scratch\n",
		"images/kaniko/Dockerfile":                                  "FROM scratch\n",
		"images/worker/Dockerfile":                                  "FROM scratch\n",
	} {
		p := filepath.Join(tree, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(root, "stub.log")
	config, err := standard.StubConfig(src, filepath.Join(root, "config"),
		map[string]string{"STUB_LOG": log, "STUB_GIT_TREE": tree})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, state: filepath.Join(root, "state"), config: config, extraEnv: noCI}
	t.Cleanup(e.waitIdle)
	return &standardEnv{env: e, log: log}
}

// calls returns the stubs' record since the last call, each invocation
// as its tool, its working directory and its arguments, with the
// temporary checkout's path written $REPO, and truncates the record.
func (s *standardEnv) calls() [][]string {
	s.t.Helper()
	data, err := os.ReadFile(s.log)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		s.t.Fatal(err)
	}
	if err := os.Remove(s.log); err != nil {
		s.t.Fatal(err)
	}
	var out [][]string
	repo, home := "", ""
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		fields := strings.Split(strings.TrimSuffix(line, "\x00"), "\x00")
		if fields[0] == "git" {
			repo, home = fields[len(fields)-1], fields[1]
		}
		if home != "" && fields[1] == home {
			fields[1] = "$HOME" // the task's working directory
		}
		for i, f := range fields {
			if repo != "" {
				fields[i] = strings.ReplaceAll(f, repo, "$REPO")
			}
		}
		out = append(out, fields)
	}
	return out
}

// clone is the stub record of the scripts' checkout of ref of repo.
func clone(repo, ref string) []string {
	return []string{"git", "$HOME", "-c", "credential.helper=", "-c", gitCredentialHelper,
		"-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
		"clone", "--quiet", "--depth", "1", "--branch", ref, "--", repo, "$REPO"}
}

func TestStandardConfigurationRunsTheTools(t *testing.T) {
	t.Parallel()
	s := newStandard(t)
	const (
		live   = "https://github.com/acme/infra-live"
		images = "https://github.com/acme/images.git"
		packer = "https://github.com/acme/packer-templates"
		tag    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.2.3"
	)
	for _, tc := range []struct {
		name string
		args []string
		want [][]string
		// tokenToBuild: the request passes the git token into the build,
		// where it is the executor's argument (Kaniko takes build
		// arguments on its command line only; the stub prints them).
		tokenToBuild bool
	}{{
		name: "plan with terraform, from a feature branch",
		args: []string{"terraform-planner", "infrastructure-deploy-script", "--repo", live, "--ref", "feature/vpc", "--deploy-path", "live/prod/vpc"},
		want: [][]string{
			clone(live, "feature/vpc"),
			{"terraform", "$REPO/live/prod/vpc", "init", "-input=false"},
			{"terraform", "$REPO/live/prod/vpc", "plan", "-input=false"},
		},
	}, {
		name: "validate with terragrunt, where a terragrunt.hcl is",
		args: []string{"terraform-planner", "infrastructure-deploy-script", "--repo=" + live, "--ref=main", "--deploy-path=live/prod/app", "--command", "validate"},
		want: [][]string{
			clone(live, "main"),
			{"terragrunt", "$REPO/live/prod/app", "validate"},
		},
	}, {
		name: "validate with terraform",
		args: []string{"terraform-planner", "infrastructure-deploy-script", "--repo", live, "--ref", "main", "--deploy-path", "live/prod/vpc", "--command=validate"},
		want: [][]string{
			clone(live, "main"),
			{"terraform", "$REPO/live/prod/vpc", "init", "-input=false", "-backend=false"},
			{"terraform", "$REPO/live/prod/vpc", "validate"},
		},
	}, {
		name: "apply with terraform from a release tag",
		args: []string{"terraform-applier", "infrastructure-deploy-script", "--repo", live + ".git", "--ref", "v1.2.3", "--deploy-path", "live/prod/vpc"},
		want: [][]string{
			clone(live+".git", "v1.2.3"),
			{"terraform", "$REPO/live/prod/vpc", "init", "-input=false"},
			{"terraform", "$REPO/live/prod/vpc", "apply", "-input=false", "-auto-approve"},
		},
	}, {
		name: "apply with terragrunt from main",
		args: []string{"terraform-applier", "infrastructure-deploy-script", "--repo", live, "--ref", "main", "--deploy-path", "live/prod/app"},
		want: [][]string{
			clone(live, "main"),
			{"terragrunt", "$REPO/live/prod/app", "apply", "-input=false", "-auto-approve"},
		},
	}, {
		name: "packer build of one build with two var files",
		args: []string{"ami-builder", "build-packer-artifact", "--repo", packer, "--ref", "release/2024-06",
			"--packer-template-path", "packer/ami.pkr.hcl", "--var-file", "packer/vars/common.pkrvars.hcl",
			"--var-file=packer/vars/prod.pkrvars.hcl", "--build-name", "amazon-ebs.ubuntu"},
		want: [][]string{
			clone(packer, "release/2024-06"),
			{"packer", "$REPO", "init", "--", "packer/ami.pkr.hcl"},
			{"packer", "$REPO", "build", "-color=false", "-only=amazon-ebs.ubuntu",
				"-var-file=packer/vars/common.pkrvars.hcl", "-var-file=packer/vars/prod.pkrvars.hcl", "--", "packer/ami.pkr.hcl"},
		},
	}, {
		name: "packer build of every build of a template directory",
		args: []string{"ami-builder", "build-packer-artifact", "--repo", packer, "--ref", "main", "--packer-template-path", "packer"},
		want: [][]string{
			clone(packer, "main"),
			{"packer", "$REPO", "init", "--", "packer"},
			{"packer", "$REPO", "build", "-color=false", "--", "packer"},
		},
	}, {
		name: "kaniko build with build args and a build secret",
		args: []string{"docker-image-builder", "build-docker-image", "--repo", images, "--ref", "main", "--context-path", "app",
			"--build-arg", "VERSION=1.2.3", "--build-arg=GREETING=hello world", "--env-secret", "NPM_TOKEN=BUILD_SECRET_NPM_TOKEN",
			"--docker-image-tag", tag},
		want: [][]string{
			clone(images, "main"),
			{"executor", "$HOME", "--context=dir://$REPO/app", "--dockerfile=$REPO/app/Dockerfile", "--destination=" + tag,
				"--build-arg=VERSION=1.2.3", "--build-arg=GREETING=hello world", "--build-arg=NPM_TOKEN=stub-BUILD_SECRET_NPM_TOKEN"},
		},
	}, {
		// The ECS deploy runner's form: --build-arg NAME alone passes the
		// task's variable NAME, for the names the container lists.
		name: "kaniko build passing the git token as the upgrade guide does",
		args: []string{"docker-image-builder", "build-docker-image", "--repo", images, "--ref", "v2.0.0", "--context-path", "app",
			"--docker-image-tag", tag, "--build-arg", "GITHUB_OAUTH_TOKEN"},
		want: [][]string{
			clone(images, "v2.0.0"),
			{"executor", "$HOME", "--context=dir://$REPO/app", "--dockerfile=$REPO/app/Dockerfile", "--destination=" + tag,
				"--build-arg=GITHUB_OAUTH_TOKEN=stub-GITHUB_OAUTH_TOKEN"},
		},
		tokenToBuild: true,
	}, {
		name: "kaniko build of the repository's root",
		args: []string{"docker-image-builder", "build-docker-image", "--repo", images, "--ref", "v2.0.0", "--docker-image-tag", tag},
		want: [][]string{
			clone(images, "v2.0.0"),
			{"executor", "$HOME", "--context=dir://$REPO", "--dockerfile=$REPO/Dockerfile", "--destination=" + tag},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(append([]string{"run", "--"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			got := s.calls()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("the tools were called as\n%s\nwant\n%s\nstdout:\n%s", show(got), show(tc.want), r.stdout)
			}
			if tc.tokenToBuild {
				// Only as the executor's argument, never the scripts' own words.
				if out := strings.ReplaceAll(r.stdout, "'--build-arg=GITHUB_OAUTH_TOKEN=stub-GITHUB_OAUTH_TOKEN'", ""); strings.Contains(out+r.stderr, "stub-GITHUB_OAUTH_TOKEN") {
					t.Errorf("the git token reached the output beyond the stub executor's arguments:\n%s", r.stdout)
				}
				return
			}
			if strings.Contains(r.stdout+r.stderr, "stub-GITHUB_OAUTH_TOKEN") {
				t.Errorf("the git token reached the output:\n%s", r.stdout)
			}
			for _, c := range got {
				if strings.Contains(strings.Join(c, " "), "stub-GITHUB_OAUTH_TOKEN") {
					t.Errorf("the git token is an argument: %q", c)
				}
			}
		})
	}
}

func show(calls [][]string) string {
	var b bytes.Buffer
	for _, c := range calls {
		b.WriteString("  ")
		for i, f := range c {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.ReplaceAll(f, " ", "␠"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestStandardConfigurationRefusesHostileRequests: each request is refused
// by the gatekeeper (exit 77) before any task starts: no stub runs.
func TestStandardConfigurationRefusesHostileRequests(t *testing.T) {
	t.Parallel()
	s := newStandard(t)
	const live = "https://github.com/acme/infra-live"
	plan := []string{"terraform-planner", "infrastructure-deploy-script"}
	apply := []string{"terraform-applier", "infrastructure-deploy-script"}
	ami := []string{"ami-builder", "build-packer-artifact"}
	image := []string{"docker-image-builder", "build-docker-image"}
	tag := "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string // in deployer's rejection
	}{
		{"a repository not allowed", append(plan, "--repo", "https://github.com/evil/infra-live", "--ref", "main", "--deploy-path", "x"), nil, "--repo"},
		{"a repository of the org not listed", append(plan, "--repo", "https://github.com/acme/secrets", "--ref", "main", "--deploy-path", "x"), nil, "--repo"},
		{"a repository over ssh", append(plan, "--repo", "git@github.com:acme/infra-live.git", "--ref", "main", "--deploy-path", "x"), nil, "--repo"},
		{"--upload-pack smuggled as the repository", append(plan, "--repo=--upload-pack=touch /tmp/pwned", "--ref", "main", "--deploy-path", "x"), nil, "--repo"},
		{"--upload-pack as the repository's value", append(plan, "--repo", "--upload-pack=touch /tmp/pwned", "--ref", "main", "--deploy-path", "x"), nil, "needs a value"},
		{"--upload-pack after a repository", append(plan, "--repo", live+" --upload-pack=x", "--ref", "main", "--deploy-path", "x"), nil, "--repo"},
		{"apply from a feature branch", append(apply, "--repo", live, "--ref", "feature/x", "--deploy-path", "x"), nil, "feature/x"},
		{"apply from main by a CI run of a feature branch", append(apply, "--repo", live, "--ref", "main", "--deploy-path", "x"),
			[]string{"GITHUB_ACTIONS=true", "GITHUB_REF_NAME=feature/x"}, "feature/x"},
		{"apply with no ref", append(apply, "--repo", live, "--deploy-path", "x"), nil, "no ref"},
		{"apply overriding its command", append(apply, "--command", "destroy", "--repo", live, "--ref", "main", "--deploy-path", "x"), nil, "fixed by the configuration"},
		{"plan asking for apply", append(plan, "--command", "apply", "--repo", live, "--ref", "main", "--deploy-path", "x"), nil, "--command"},
		{"a tag outside the registry", append(image, "--repo", live, "--ref", "main", "--docker-image-tag", "docker.io/evil/app:1"), nil, "--docker-image-tag"},
		{"a tag of another account", append(image, "--repo", live, "--ref", "main", "--docker-image-tag", "999999999999.dkr.ecr.us-east-1.amazonaws.com/app:1"), nil, "--docker-image-tag"},
		{"--build-arg --foo", append(image, "--repo", live, "--ref", "main", "--build-arg", "--foo", "--docker-image-tag", tag), nil, "needs a value"},
		{"--build-arg=--foo", append(image, "--repo", live, "--ref", "main", "--build-arg=--foo", "--docker-image-tag", tag), nil, "--build-arg"},
		{"--build-arg without a name", append(image, "--repo", live, "--ref", "main", "--build-arg", "=x", "--docker-image-tag", tag), nil, "--build-arg"},
		{"the git token as a build secret", append(image, "--repo", live, "--ref", "main", "--env-secret", "T=GITHUB_OAUTH_TOKEN", "--docker-image-tag", tag), nil, "--env-secret"},
		{"another task variable as a bare build arg", append(image, "--repo", live, "--ref", "main", "--build-arg", "AWS_SECRET_ACCESS_KEY", "--docker-image-tag", tag), nil, "--build-arg"},
		{"PATH as a bare build arg", append(image, "--repo", live, "--ref", "main", "--build-arg", "PATH", "--docker-image-tag", tag), nil, "--build-arg"},
		{"a context outside the repository", append(image, "--repo", live, "--ref", "main", "--context-path", "../..", "--docker-image-tag", tag), nil, "--context-path"},
		{"--var-file ../../etc/passwd", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "p", "--var-file", "../../etc/passwd"), nil, "--var-file"},
		{"--var-file /etc/passwd", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "p", "--var-file=/etc/passwd"), nil, "--var-file"},
		{"--var-file starting with a dash", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "p", "--var-file=-x"), nil, "--var-file"},
		{"a template outside the repository", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "a/../../b"), nil, "--packer-template-path"},
		{"a build name that is a flag", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "p", "--build-name=-debug"), nil, "--build-name"},
		{"a build name with a glob", append(ami, "--repo", live, "--ref", "main", "--packer-template-path", "p", "--build-name", "*"), nil, "--build-name"},
		{"--deploy-path ../x", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "../x"), nil, "--deploy-path"},
		{"--deploy-path with .. inside", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "live/../../x"), nil, "--deploy-path"},
		{"--deploy-path absolute", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "/etc"), nil, "--deploy-path"},
		{"--ref -u", append(plan, "--repo", live, "--ref", "-u", "--deploy-path", "x"), nil, "needs a value"},
		{"--ref=-u", append(plan, "--repo", live, "--ref=-u", "--deploy-path", "x"), nil, "--ref"},
		{"--ref=--upload-pack=x", append(plan, "--repo", live, "--ref=--upload-pack=x", "--deploy-path", "x"), nil, "--ref"},
		{"an option repeated", append(plan, "--repo", live, "--repo", live, "--ref", "main", "--deploy-path", "x"), nil, "more than once"},
		{"an unknown option", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "x", "--chdir", "/"), nil, "--chdir"},
		{"a terraform flag", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "x", "-destroy"), nil, "-destroy"},
		{"a positional argument", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "x", "plan"), nil, "positional"},
		{"positional arguments after --", append(plan, "--repo", live, "--ref", "main", "--deploy-path", "x", "--", "-destroy"), nil, "positional"},
		{"a script not listed", []string{"terraform-applier", "build-docker-image"}, nil, "not in the allow-list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.extraEnv = append(append([]string(nil), noCI...), tc.env...)
			r := s.run(append([]string{"run", "--"}, tc.args...)...)
			if r.code != 77 {
				t.Fatalf("exit code %d, want 77 (rejected)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("the rejection does not mention %q:\n%s", tc.want, r.stderr)
			}
			if got := s.calls(); got != nil {
				t.Errorf("a tool ran for a refused request:\n%s", show(got))
			}
			// Under GitHub Actions the rejection is also an annotation
			// (deployer's own ::error, on stdout); nothing else is.
			out := r.stdout
			if slices.Contains(tc.env, "GITHUB_ACTIONS=true") {
				ann := regexp.MustCompile(`(?m)^::error title=[^\n]*rejected::[^\n]*\n`)
				if !ann.MatchString(out) {
					t.Errorf("a request refused under GitHub Actions has no ::error annotation:\n%s", out)
				}
				out = ann.ReplaceAllString(out, "")
			}
			if out != "" {
				t.Errorf("a refused request has task output:\n%s", out)
			}
		})
	}
}

// The two image builds of the ECS deploy runner's upgrade guide, verbatim
// after "--", pass the standard configuration once its placeholders name
// that repository and registry, and run.
func TestStandardConfigurationRunsTheUpgradeGuideCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, sub := range []string{"scripts", "stubs"} {
		copyTree(t, filepath.Join("../config/standard", sub), filepath.Join(dir, sub))
	}
	data, err := os.ReadFile("../config/standard/deployer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		`acme/(infra-live|infra-modules|packer-templates|images)`, `(acme/(infra-live|infra-modules|packer-templates|images)|gruntwork-io/terraform-aws-ci)`,
		`\.us-east-1\.amazonaws`, `\.us-west-2\.amazonaws`,
	).Replace(string(data))
	if cfg == string(data) || !strings.Contains(cfg, "gruntwork-io") || !strings.Contains(cfg, "us-west-2") {
		t.Fatal("the placeholders of config/standard/deployer.yaml moved: update this test")
	}
	if err := os.WriteFile(filepath.Join(dir, "deployer.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStandardFrom(t, filepath.Join(dir, "deployer.yaml"))
	const repo = "https://github.com/gruntwork-io/terraform-aws-ci"
	for _, image := range []string{"deploy-runner", "kaniko"} {
		tag := "123456789012.dkr.ecr.us-west-2.amazonaws.com/" + map[string]string{"deploy-runner": "ecs-deploy-runner", "kaniko": "kaniko"}[image] + ":v0.38.0"
		r := s.run("--", "docker-image-builder", "build-docker-image", "--repo", repo, "--ref", "v0.38.0",
			"--context-path", "modules/ecs-deploy-runner/docker/"+image, "--docker-image-tag", tag, "--build-arg", "GITHUB_OAUTH_TOKEN")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", image, r.code, r.stdout, r.stderr)
		}
		want := [][]string{
			clone(repo, "v0.38.0"),
			{"executor", "$HOME", "--context=dir://$REPO/modules/ecs-deploy-runner/docker/" + image,
				"--dockerfile=$REPO/modules/ecs-deploy-runner/docker/" + image + "/Dockerfile", "--destination=" + tag,
				"--build-arg=GITHUB_OAUTH_TOKEN=stub-GITHUB_OAUTH_TOKEN"},
		}
		if got := s.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the tools were called as\n%s\nwant\n%s", image, show(got), show(want))
		}
	}
}

// TestStandardConfigurationRebuildsDeployersOwnImages runs the image
// builds of docs/upgrading.md: deployer's own images (the task images and
// the worker's) rebuild through the standard configuration's
// docker-image-builder, verbatim, with the whole repository as their
// build context. A Dockerfile path leading out of the repository is
// refused before anything runs.
func TestStandardConfigurationRebuildsDeployersOwnImages(t *testing.T) {
	t.Parallel()
	s := newStandard(t)
	const repo = "https://github.com/deployerhq/deployer"
	for _, image := range []string{"deploy-runner", "kaniko", "worker"} {
		tag := "123456789012.dkr.ecr.us-east-1.amazonaws.com/deployer/" + image + ":v1.4.0"
		r := s.run("run", "--", "docker-image-builder", "build-docker-image", "--repo", repo, "--ref", "v1.4.0",
			"--dockerfile-path", "images/"+image+"/Dockerfile", "--build-arg", "VERSION=v1.4.0", "--docker-image-tag", tag)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", image, r.code, r.stdout, r.stderr)
		}
		want := [][]string{
			clone(repo, "v1.4.0"),
			{"executor", "$HOME", "--context=dir://$REPO", "--dockerfile=$REPO/images/" + image + "/Dockerfile",
				"--destination=" + tag, "--build-arg=VERSION=v1.4.0"},
		}
		if got := s.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the tools were called as\n%s\nwant\n%s", image, show(got), show(want))
		}
	}
	for _, path := range []string{"../images/kaniko/Dockerfile", "/etc/passwd", "images/../../x"} {
		r := s.run("run", "--", "docker-image-builder", "build-docker-image", "--repo", repo, "--ref", "v1.4.0",
			"--dockerfile-path", path, "--docker-image-tag", "123456789012.dkr.ecr.us-east-1.amazonaws.com/deployer/kaniko:v1")
		if r.code != 77 || !strings.Contains(r.stderr, "--dockerfile-path") {
			t.Errorf("--dockerfile-path %s: exit %d, want 77 naming the option\nstderr:\n%s", path, r.code, r.stderr)
		}
		if got := s.calls(); got != nil {
			t.Errorf("--dockerfile-path %s: the tools ran: %s", path, show(got))
		}
	}
}

// copyTree copies the directory src to dst, modes kept.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		data, err := os.ReadFile(p) //nolint:gosec // the repository's own files
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
