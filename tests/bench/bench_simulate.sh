#!/bin/bash
# Benchmark: simulate a whole year of a plan with the 2020 rows and UNITS
# units (default 40000) and about 37 random events per unit.
#
#   tests/bench/bench_simulate.sh [UNITS] [KAOHED]
#
# Prints wall time and peak RSS of `kaohed simulate` (reminders counted,
# not printed), and checks the run's output: exit status, snapshots, and
# a final scores object with every unit.  Targets at 40,000 units: 15 s
# and 500 MB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
units=${1:-40000}
kaohed=${2:-$here/../../build/kaohed}
work=${KAOHE_BENCH_DIR:-/tmp/kaohe-bench-$units}

if [ ! -s "$work/events.txt" ]; then
	/usr/bin/python3 "$here/gen_plan.py" "$work" "$units"
fi
events=$(wc -l < "$work/events.txt")
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT

/usr/bin/time -f "%e %M" -o "$out.time" "$kaohed" -c "$work/kaohe.conf" simulate \
	--from 2020-05-01 --to 2021-01-01 --events "$work/events.txt" --count-reminders > "$out"
read -r wall rss_kb < "$out.time"

snapshots=$(grep -c '"type":"snapshot"' "$out")
/usr/bin/python3 - "$out" "$units" <<'PY'
import json, sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert last["type"] == "scores", last["type"]
assert len(last["units"]) == int(sys.argv[2]), len(last["units"])
assert all(len(u["rows"]) == 28 for u in last["units"])
PY
[ "$snapshots" -eq 3 ] || { echo "expected 3 snapshots, got $snapshots" >&2; exit 1; }
printf 'simulate: %d units, %d events: wall %s s, peak RSS %d MB (targets at 40000 units: 15 s, 500 MB)\n' \
	"$units" "$events" "$wall" $((rss_kb / 1024))
