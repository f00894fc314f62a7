#!/usr/bin/env bash
# shapes.sh times one build of deployer on outputs of several shapes, each
# against the same script piped to tee, alternating the two:
#
#   test/shapes.sh BIN [RUNS] [SHAPE...]
#
# Shapes: wide100k and wide1m (80-byte lines: terraform's refreshing),
# long200k (160-byte lines: a Packer build's), seq1m (seq 1 1000000) and
# yes300k (300,000 copies of one short line). One "deployer up" serves
# every run. For each shape it prints the median wall time of "deployer
# run" and of "SCRIPT | tee FILE", their ratio (tee's ÷ deployer's: 1 is
# as fast as tee), and checks that the two printed the same bytes.
set -euo pipefail

bin=${1:?usage: shapes.sh BIN [RUNS] [SHAPE...]}
runs=${2:-5}
shift $(($# < 2 ? $# : 2))
shapes=("$@")
((${#shapes[@]})) || shapes=(wide100k wide1m long200k seq1m yes300k)
[[ -x $bin ]] || { echo "shapes.sh: $bin is not an executable" >&2; exit 64; }

dir=$(mktemp -d)
up=
cleanup() {
	[[ -n $up ]] && kill "$up" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

mkdir "$dir/scripts"
wide='printf "module.vpc.aws_subnet.private[%06d]: Refreshing state... [id=subnet-%08x]\n", i, i'
long='printf "%06d 2026-12-05T10:00:00Z INFO amazon-ebs.ubuntu: ==> Waiting for instance to become ready... attempt %d of many, region us-east-1, subnet-0abcdef%d\n", i, i, i'
printf '#!/bin/sh\nexec awk '\''BEGIN { for (i = 1; i <= 100000; i++) %s }'\''\n' "$wide" >"$dir/scripts/wide100k"
printf '#!/bin/sh\nexec awk '\''BEGIN { for (i = 1; i <= 1000000; i++) %s }'\''\n' "$wide" >"$dir/scripts/wide1m"
printf '#!/bin/sh\nexec awk '\''BEGIN { for (i = 1; i <= 200000; i++) %s }'\''\n' "$long" >"$dir/scripts/long200k"
printf '#!/bin/sh\nexec seq 1 1000000\n' >"$dir/scripts/seq1m"
printf '#!/bin/sh\nyes "terraform plan: no changes" | head -n 300000\n' >"$dir/scripts/yes300k"
chmod +x "$dir/scripts/"*
{
	echo "containers:"
	echo "  bench:"
	echo "    local: {scripts_dir: $dir/scripts}"
	echo "    script_config:"
	for s in "${shapes[@]}"; do
		[[ -x $dir/scripts/$s ]] || { echo "shapes.sh: no shape $s" >&2; exit 64; }
		echo "      $s: {allowed_options: []}"
	done
} >"$dir/deployer.yaml"

# up starts serving when it says so on stderr.
"$bin" --state-dir "$dir/state" --config "$dir/deployer.yaml" up 2>"$dir/up.log" &
up=$!
until grep -q serving "$dir/up.log"; do
	kill -0 "$up" || { cat "$dir/up.log" >&2; exit 1; }
	sleep 0.05
done

us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for s in "${shapes[@]}"; do
	: >"$dir/d" && : >"$dir/t"
	for ((i = 0; i < runs; i++)); do
		t0=$(us)
		"$bin" --state-dir "$dir/state" --config "$dir/deployer.yaml" run -- bench "$s" >"$dir/out" 2>/dev/null
		t1=$(us)
		"$dir/scripts/$s" | tee "$dir/tee" >/dev/null
		t2=$(us)
		echo $((t1 - t0)) >>"$dir/d"
		echo $((t2 - t1)) >>"$dir/t"
	done
	cmp -s "$dir/out" "$dir/tee" || { echo "shapes.sh: $s: deployer run printed other bytes than the script" >&2; exit 1; }
	awk -v s="$s" -v d="$(median <"$dir/d")" -v t="$(median <"$dir/t")" \
		'BEGIN { printf "%-9s deployer run %7.1f ms   | tee %6.1f ms   ratio %.2fx\n", s, d / 1000, t / 1000, t / d }'
done
