# shellcheck shell=sh
# Sourced by the stub tools. NOT the real tools: these stand in for git,
# terraform, terragrunt, packer and Kaniko's executor so that the standard
# scripts run with no cloud, in the tests (test/standard_test.go) and in
# "make run-standard". Each invocation prints what it was asked and, when
# STUB_LOG names a file, appends one line to it: the tool's name, its
# working directory, then each argument, every field followed by a NUL.
stub=${0##*/}
if [ -n "${STUB_LOG:-}" ]; then
  {
    printf '%s\0' "$stub" "$PWD" "$@"
    printf '\n'
  } >>"$STUB_LOG"
fi
printf '[stub %s]' "$stub"
printf " '%s'" "$@"
printf '\n'
