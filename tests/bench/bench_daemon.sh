#!/bin/bash
# Benchmark of kaohed as a service with UNITS units (default 40000):
#  - exec to READY=1 with an up-to-date database (targets: 1 s, 100 MB);
#  - control-socket throughput and latency of `status UNIT` over 50
#    concurrent connections, beside redis-benchmark PING over a UNIX
#    socket in the same run (targets: >= 25% of Redis's rate, p99 <= 2 ms).
#
#   tests/bench/bench_daemon.sh [UNITS] [BUILD_DIR] [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
units=${1:-40000}
build=${2:-$here/../../build}
secs=${3:-10}
work=${KAOHE_BENCH_DIR:-/tmp/kaohe-bench-$units}
[ -s "$work/events.txt" ] || /usr/bin/python3 "$here/gen_plan.py" "$work" "$units"
state=$(mktemp -d)
# The load comes from one user: allow it 64 connections (the default is 16).
sed 's/^kaohe: {/kaohe: {\n  control_max_per_uid = 64;/' "$work/kaohe.conf" > "$work/kaohed-bench.conf"
pid=""
rpid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
	rm -rf "$state"
}
trap cleanup EXIT
# Publication (40,000 units' feeds, by a process of its own) is left out:
# this measures the control socket.
kaohed=("$build/kaohed" -c "$work/kaohed-bench.conf" -f --state-dir "$state" --socket "$state/ctl.sock"
	--export-dir "")
wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

# First start on an empty database: the whole year is caught up.
out=$(/usr/bin/python3 "$here/ready_time.py" 600 "${kaohed[@]}")
pid=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$out")
echo "first start, empty database (the whole plan year caught up): $out"
kill "$pid"; wait_gone "$pid"

# Start again: the database is up to date.
out=$(/usr/bin/python3 "$here/ready_time.py" 60 "${kaohed[@]}")
pid=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$out")
echo "exec to READY=1, up-to-date database, $units units: $out (targets: 1 s, 100 MB)"

redis-server --port 0 --unixsocket "$state/redis.sock" --save "" --appendonly no \
	>"$state/redis.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do [ -S "$state/redis.sock" ] && break; sleep 0.05; done
requests=$((secs * 60000))
redis=$(redis-benchmark -s "$state/redis.sock" -c 50 -n "$requests" -t ping --csv |
	awk -F'"' '/PING_INLINE/ {print $4, $14}')
read -r redis_rps redis_p99 <<<"$redis"
echo "redis-benchmark -s (PING_INLINE, 50 connections): rps=$redis_rps p99_ms=$redis_p99"

load=$("$build/tests/ctlbench" "$state/ctl.sock" 50 "$secs" "$units")
echo "kaohed status UNIT (50 connections, $secs s): $load"
rps=$(sed 's/.*rps=\([0-9.]*\).*/\1/' <<<"$load")
p99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$load")
hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
awk -v a="$rps" -v b="$redis_rps" -v p="$p99" -v m="$hwm" 'BEGIN {
	printf "ratio to redis: %.1f%% (target >= 25%%); p99 %.3f ms (target <= 2 ms); kaohed peak RSS %d MB\n",
		100 * a / b, p, m }'
