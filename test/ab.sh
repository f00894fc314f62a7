#!/usr/bin/env bash
# ab.sh compares two builds of deployer on the embedded fast path, with
# runs of the two alternating so that both see the same moments of a noisy
# machine (the benchmarks of bench_test.go time one build at a time):
#
#   test/ab.sh BIN_A BIN_B [noop|seq|wide] [RUNS]
#
# Each build serves its own state directory with its own "deployer up".
# For each, it prints the median wall time of a "deployer run" and the
# mean CPU per run of the run itself, of up, and of up's task supervisors
# (/proc's ticks, 10 ms each). Linux only.
set -euo pipefail

a=${1:?usage: ab.sh BIN_A BIN_B [noop|seq|wide] [RUNS]}
b=${2:?usage: ab.sh BIN_A BIN_B [noop|seq|wide] [RUNS]}
script=${3:-noop}
runs=${4:-20}
for bin in "$a" "$b"; do
	[[ -x $bin ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 64; }
done

dir=$(mktemp -d)
ups=()
cleanup() {
	for p in "${ups[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

"$(dirname "$0")/benchdir.sh" "$dir"

# up starts serving when it says so on stderr.
for x in a b; do
	bin=$a
	[[ $x == b ]] && bin=$b
	"$bin" --state-dir "$dir/$x" --config "$dir/deployer.yaml" up 2>"$dir/up-$x.log" &
	ups+=("$!")
done
for x in a b; do
	until grep -q serving "$dir/up-$x.log"; do
		kill -0 "${ups[0]}" "${ups[1]}" || { cat "$dir"/up-*.log >&2; exit 1; }
		sleep 0.05
	done
done

# cpu prints a process's CPU and that of its children, in ms: those it
# has reaped, and those alive with theirs (a supervisor up takes back for
# its next task lives on).
cpu() {
	local own reaped kids=0 c t
	read -r own reaped < <(awk '{ print ($14 + $15) * 10, ($16 + $17) * 10 }' "/proc/$1/stat")
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		t=$(awk '{ print ($14 + $15 + $16 + $17) * 10 }' "/proc/$c/stat" 2>/dev/null) || t=0
		kids=$((kids + ${t:-0}))
	done
	echo "$own $((reaped + kids))"
}

run() { # run x: one timed run of build x; prints "x wall_us cli_ms up_ms children_ms"
	local x=$1 bin=$a up=${ups[0]}
	[[ $x == b ]] && bin=$b && up=${ups[1]}
	local u0 c0 u1 c1 s e
	read -r u0 c0 < <(cpu "$up")
	s=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$dir/time" "$bin" --state-dir "$dir/$x" --config "$dir/deployer.yaml" \
		run -- bench "$script" >"$dir/out" 2>/dev/null
	e=$(date +%s%N)
	sleep 0.1 # the task's supervisor exits and is reaped, or is back
	read -r u1 c1 < <(cpu "$up")
	echo "$x $(((e - s) / 1000)) $(awk '{ print ($1 + $2) * 1000 }' "$dir/time") $((u1 - u0)) $((c1 - c0))"
}

run a >/dev/null
run b >/dev/null
for ((i = 0; i < runs; i++)); do
	run a
	run b
done | awk "$(<"$(dirname "$0")/median.awk")"'
	{ n[$1]++; w[$1, n[$1]] = $2 / 1000; cli[$1] += $3; up[$1] += $4; sup[$1] += $5 }
	END {
		for (x = 0; x < 2; x++) {
			k = x ? "b" : "a"
			m = n[k]
			med = median(k)
			printf "%s: wall median %.1f ms; CPU per run: run %.0f ms, up %.0f ms, supervisors %.0f ms (%d runs)\n",
				k, med, cli[k] / m, up[k] / m, sup[k] / m, m
		}
	}'
