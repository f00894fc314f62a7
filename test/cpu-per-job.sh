#!/usr/bin/env bash
# cpu-per-job.sh tells where the CPU of a served job goes, by process, from
# the scheduler's own accounting (perf's sched:sched_stat_runtime, every
# thread, to the nanosecond), rather than /proc's 10 ms ticks:
#
#   test/cpu-per-job.sh BIN [noop|seq|wide] [RUNS]
#
# BIN is a deployer binary (make build's bin/deployer, deployer-supervisor
# beside it). It serves a state directory of its own with "BIN up", runs
# RUNS (default 40) "BIN run -- bench SCRIPT" one after the other, and
# prints the wall time per run and the CPU per run of: the runs, up, the
# task supervisors, the script, and anything else that ran meanwhile.
# Linux; needs perf and the right to trace every process (root, or
# kernel.perf_event_paranoid <= -1).
set -euo pipefail

bin=${1:?usage: cpu-per-job.sh BIN [noop|seq|wide] [RUNS]}
script=${2:-noop}
runs=${3:-40}
[[ -x $bin ]] || { echo "cpu-per-job.sh: $bin is not an executable" >&2; exit 64; }
command -v perf >/dev/null || { echo "cpu-per-job.sh: needs perf" >&2; exit 69; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

dir=$(mktemp -d)
up=
cleanup() {
	[[ -n $up ]] && kill "$up" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

"$(dirname "$0")/benchdir.sh" "$dir"
"$bin" --state-dir "$dir/state" --config "$dir/deployer.yaml" up 2>"$dir/up.log" &
up=$!
until grep -q serving "$dir/up.log"; do
	kill -0 "$up" || { cat "$dir/up.log" >&2; exit 1; }
	sleep 0.05
done
run() { "$bin" --state-dir "$dir/state" --config "$dir/deployer.yaml" run -- bench "$script" >/dev/null 2>&1; }
for _ in 1 2 3; do run; done # the first runs warm up

export -f run
export bin dir script
perf record -q -e sched:sched_stat_runtime -a -o "$dir/perf.data" -- \
	bash -c 's=$(date +%s%N); for ((i = 0; i < '"$runs"'; i++)); do run; done; echo $(( ($(date +%s%N) - s) / 1000 )) >"'"$dir"'/wall"' 2>/dev/null

# Each sample: the thread's process id, and the CPU it ran for. The
# runs, the supervisors and the script are told apart by their names
# (a run is named after BIN, as up is: up by its process id).
perf script -i "$dir/perf.data" -F pid,trace 2>/dev/null | awk -v up="$up" -v runs="$runs" \
	-v wall="$(cat "$dir/wall")" -v name="$(basename "$bin" | cut -c1-15)" -v script="$script" '
	match($0, /comm=[^ ]+ pid=[0-9]+ runtime=[0-9]+/) {
		split(substr($0, RSTART, RLENGTH), f, /[= ]/)
		comm = f[2]; ns = f[6]; pid = $1
		if (pid == up) k = "up"
		else if (comm == name) k = "runs"
		else if (comm ~ /^deployer-superv/) k = "supervisors"
		else if (comm == script || comm == "awk" || comm == "seq" || comm == "sh") k = "script"
		else k = "other"
		cpu[k] += ns
	}
	END {
		printf "%d runs of %s: wall %.1f ms per run; CPU per run:", runs, script, wall / runs / 1000
		n = split("runs up supervisors script other", keys, " ")
		for (i = 1; i <= n; i++) printf " %s %.1f ms%s", keys[i], cpu[keys[i]] / runs / 1e6, i < n ? "," : "\n"
	}'
