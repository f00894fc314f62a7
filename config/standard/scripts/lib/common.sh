# shellcheck shell=sh
# Sourced by the standard scripts: argument checks and the git checkout.
# The gatekeeper has already checked every value against deployer.yaml;
# these checks are the second line, for a configuration edited too far.

# die MESSAGE: print MESSAGE to stderr and exit 2 (a usage error).
die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 2
}

# need OPTION VALUE: VALUE must not be empty.
need() {
  [ -n "$2" ] || die "$1 is required"
}

# check_value OPTION VALUE: VALUE must not be empty or look like an option.
check_value() {
  case "$2" in
    '' | -*) die "$1 must not be empty or start with '-', got '$2'" ;;
  esac
}

# check_relpath OPTION VALUE: VALUE is a relative path with no '.' or '..'
# segment and no leading '/' or '-'.
check_relpath() {
  case "$2" in
    '' | /* | -* | . | .. | ./* | ../* | */. | */.. | */./* | */../* | *//*)
      die "$1 must be a relative path inside the repository, without '.' or '..' segments or a leading '/' or '-', got '$2'"
      ;;
  esac
}

# check_repo VALUE: only https URLs are cloned.
check_repo() {
  case "$1" in
    https://*) ;;
    *) die "--repo must be an https URL, got '$1'" ;;
  esac
}

# inside DIR ROOT: fail unless DIR, symbolic links resolved, is ROOT or
# below it (a symbolic link in the repository must not lead out of it).
inside() {
  real=$(cd -- "$1" && pwd -P) || die "cannot enter $1"
  root=$(cd -- "$2" && pwd -P) || die "cannot enter $2"
  case "$real/" in
    "$root"/*) ;;
    *) die "${1#"$2"/} leads outside the repository" ;;
  esac
}

# checkout REPO REF DIR: a shallow clone of branch or tag REF of REPO into
# DIR. GITHUB_OAUTH_TOKEN, when set (a secret of the container), reaches
# git through a credential helper that reads it from the environment: it
# is never an argument and never printed. Only https is allowed.
checkout() {
  check_repo "$1"
  check_value --ref "$2"
  # shellcheck disable=SC2016 # expanded by git's shell, from the environment
  helper='!f() { test "$1" = get || return 0; echo username=x-access-token; printf "password=%s\n" "${GITHUB_OAUTH_TOKEN:-}"; }; f'
  printf 'Cloning %s at %s\n' "$1" "$2"
  GIT_TERMINAL_PROMPT=0 git \
    -c credential.helper= -c "credential.helper=$helper" \
    -c protocol.allow=never -c protocol.https.allow=always \
    clone --quiet --depth 1 --branch "$2" -- "$1" "$3"
}

# workdir: a fresh directory, removed when the script exits.
workdir() {
  work=$(mktemp -d)
  trap 'rm -rf -- "$work"' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}
