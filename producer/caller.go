package producer

import (
	"os/user"

	"github.com/deployerhq/deployer/schemas"
)

// CallerFromEnv describes the caller's context from the CI system's
// environment variables (GitHub Actions, GitLab CI, CircleCI, Buildkite,
// Jenkins), or from the local git-less environment otherwise. It is
// informational only: authorization uses the identity the queue verified.
func CallerFromEnv(getenv func(string) string) schemas.CallerMetadata {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		m := schemas.CallerMetadata{
			CIProvider: "github-actions",
			Repo:       getenv("GITHUB_REPOSITORY"),
			Ref:        getenv("GITHUB_REF_NAME"),
			SHA:        getenv("GITHUB_SHA"),
			User:       getenv("GITHUB_ACTOR"),
		}
		if s, r, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"); s != "" && r != "" && id != "" {
			m.RunURL = s + "/" + r + "/actions/runs/" + id
		}
		return m
	case getenv("GITLAB_CI") == "true":
		return schemas.CallerMetadata{
			CIProvider: "gitlab-ci",
			Repo:       getenv("CI_PROJECT_PATH"),
			Ref:        getenv("CI_COMMIT_REF_NAME"),
			SHA:        getenv("CI_COMMIT_SHA"),
			RunURL:     getenv("CI_PIPELINE_URL"),
			User:       getenv("GITLAB_USER_LOGIN"),
		}
	case getenv("CIRCLECI") == "true":
		return schemas.CallerMetadata{
			CIProvider: "circleci",
			Repo:       getenv("CIRCLE_PROJECT_USERNAME") + "/" + getenv("CIRCLE_PROJECT_REPONAME"),
			Ref:        getenv("CIRCLE_BRANCH"),
			SHA:        getenv("CIRCLE_SHA1"),
			RunURL:     getenv("CIRCLE_BUILD_URL"),
			User:       getenv("CIRCLE_USERNAME"),
		}
	case getenv("BUILDKITE") == "true":
		return schemas.CallerMetadata{
			CIProvider: "buildkite",
			Repo:       getenv("BUILDKITE_REPO"),
			Ref:        getenv("BUILDKITE_BRANCH"),
			SHA:        getenv("BUILDKITE_COMMIT"),
			RunURL:     getenv("BUILDKITE_BUILD_URL"),
			User:       getenv("BUILDKITE_BUILD_CREATOR"),
		}
	case getenv("JENKINS_URL") != "":
		return schemas.CallerMetadata{
			CIProvider: "jenkins",
			Repo:       getenv("GIT_URL"),
			Ref:        getenv("GIT_BRANCH"),
			SHA:        getenv("GIT_COMMIT"),
			RunURL:     getenv("BUILD_URL"),
		}
	}
	m := schemas.CallerMetadata{}
	if u, err := user.Current(); err == nil {
		m.User = u.Username
	}
	return m
}
