#!/usr/bin/env bash
# benchdir.sh writes the fixture that test/ab.sh, test/ab-self.sh and
# test/timeline.py run deployer on, into DIR:
#
#   test/benchdir.sh DIR
#
# DIR/scripts holds three scripts (noop: exits at once; seq: 100,000
# short lines; wide: 100,000 80-byte lines, as terraform refreshing prints
# them) and DIR/deployer.yaml allows them as container "bench".
set -euo pipefail

dir=${1:?usage: benchdir.sh DIR}
mkdir -p "$dir/scripts"
printf '#!/bin/sh\nexit 0\n' >"$dir/scripts/noop"
printf '#!/bin/sh\nexec seq 1 100000\n' >"$dir/scripts/seq"
cat >"$dir/scripts/wide" <<'SCRIPT'
#!/bin/sh
exec awk 'BEGIN { for (i = 1; i <= 100000; i++) printf "module.vpc.aws_subnet.private[%06d]: Refreshing state... [id=subnet-%08x]\n", i, i }'
SCRIPT
chmod +x "$dir/scripts/"*
cat >"$dir/deployer.yaml" <<CONFIG
containers:
  bench:
    local: {scripts_dir: $dir/scripts}
    script_config:
      noop: {allowed_options: []}
      seq: {allowed_options: []}
      wide: {allowed_options: []}
CONFIG
