#!/usr/bin/env bash
# ab-self.sh compares two builds of deployer on a self-served no-op: a
# "deployer run" of a state directory that no "deployer up" serves, which
# starts the detached server it needs. Runs of the two alternate, so that
# both see the same moments of a noisy machine:
#
#   test/ab-self.sh BIN_A BIN_B [RUNS]
#
# Each build has its own state directory, created by a first run; after
# every run the detached server it started is stopped, and waited for, so
# that the next run starts one again. Prints the median wall time of each.
# Linux only (test/ab.sh does the same for served runs).
set -euo pipefail

a=${1:?usage: ab-self.sh BIN_A BIN_B [RUNS]}
b=${2:?usage: ab-self.sh BIN_A BIN_B [RUNS]}
runs=${3:-15}
for bin in "$a" "$b"; do
	[[ -x $bin ]] || { echo "ab-self.sh: $bin is not an executable" >&2; exit 64; }
done

dir=$(mktemp -d)
cleanup() {
	stop a || true
	stop b || true
	rm -rf "$dir"
}
trap cleanup EXIT

"$(dirname "$0")/benchdir.sh" "$dir"

# stop x: stops the servers of build x's state directory (named by their
# up-PID.lock) and waits until they are gone.
stop() {
	local lock pid
	for lock in "$dir/$1"/up-*.lock; do
		[[ -e $lock ]] || continue
		pid=${lock##*/up-}
		pid=${pid%.lock}
		kill "$pid" 2>/dev/null || continue
		while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
	done
}

run() { # run x: one timed run of build x; prints "x wall_us"
	local x=$1 bin=$a s e
	[[ $x == b ]] && bin=$b
	s=$(date +%s%N)
	"$bin" --state-dir "$dir/$x" --config "$dir/deployer.yaml" run -- bench noop >/dev/null 2>&1
	e=$(date +%s%N)
	stop "$x"
	echo "$x $(((e - s) / 1000))"
}

run a >/dev/null
run b >/dev/null
for ((i = 0; i < runs; i++)); do
	run a
	run b
done | awk "$(<"$(dirname "$0")/median.awk")"'
	{ n[$1]++; w[$1, n[$1]] = $2 / 1000 }
	END {
		for (x = 0; x < 2; x++) {
			k = x ? "b" : "a"
			printf "%s: self-served no-op, wall median %.1f ms (%d runs)\n", k, median(k), n[k]
		}
	}'
