#!/bin/bash
# Benchmark of kaohed's webhook delivery: UNITS units' reminders (default
# 40,000) come due at one instant and go to a generic webhook, a loopback
# HTTP sink (a private nginx answering 204).  Reports deliveries per
# second, the time from the reminder instant until the last delivery, and
# kaohed's peak RSS; then wrk POSTs to the same sink in the same run as
# the baseline.  Targets: >= 20,000 deliveries/s (>= 25% of wrk's rate),
# all delivered within 2 s of the instant, peak RSS <= 200 MB.
#
#   tests/bench/bench_deliver.sh [UNITS] [BUILD_DIR] [RUNS]
#   tests/bench/bench_deliver.sh UNITS=300 BUILD_DIR=build RUNS=3
#
# RUNS > 1 repeats the kaohed part on a fresh state directory each time
# and prints the median.  Environment:
#   LEAD      seconds from generating the plan to the reminder instant
#             (default 3 + UNITS/10000; READY=1 must come before it)
#   BEFORE    the reminder slot is "-BEFOREs": the deadline, when the
#             engine records every unit's late deduction, comes BEFORE
#             seconds after the reminder instant (default 3)
#   TIMEOUT   seconds after the instant by which every delivery must be
#             at the sink (default 60 + UNITS/1000)
#   WRK_SECS  wrk's duration (default 5); WRK_CONNS its connections (128)
#   KAOHE_BENCH_DIR  work directory (default a fresh one under /tmp,
#             removed at exit unless KEEP=1 or a run failed)
#   STRICT=1  a missed target is a failure too
#   PERF=1    perf record -g of kaohed from READY=1 until every delivery
#             is in, to RUNDIR/perf.data (the work directory is kept);
#             PERF_OPTS replaces -g (e.g. "--call-graph dwarf -F 999")
#
# Exit status: 0 done; 1 a run failed (kaohed not ready in time, the
# reminder instant passed before READY=1, not every delivery at the sink
# within TIMEOUT, kaohed died), or with STRICT=1 a target missed; 2 usage
# or a missing tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3

units=40000
build=build
runs=1
pos=0
for a in "$@"; do
	case $a in
	UNITS=*) units=${a#UNITS=} ;;
	BUILD_DIR=*) build=${a#BUILD_DIR=} ;;
	RUNS=*) runs=${a#RUNS=} ;;
	-h | --help)
		sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*=*) echo "bench_deliver.sh: unknown setting $a" >&2; exit 2 ;;
	*)
		case $pos in
		0) units=$a ;;
		1) build=$a ;;
		2) runs=$a ;;
		*) echo "bench_deliver.sh: too many arguments" >&2; exit 2 ;;
		esac
		pos=$((pos + 1))
		;;
	esac
done
[[ $units =~ ^[0-9]+$ && $units -ge 1 && $units -le 99999 ]] ||
	{ echo "bench_deliver.sh: UNITS must be 1 to 99999" >&2; exit 2; }
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || { echo "bench_deliver.sh: RUNS must be >= 1" >&2; exit 2; }
case $build in /*) ;; *) [ -d "$build" ] || build=$root/$build ;; esac
build=$(cd "$build" 2>/dev/null && pwd) || { echo "bench_deliver.sh: no build directory $build" >&2; exit 2; }
kaohed=$build/kaohed
kaohectl=$build/kaohectl
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-/usr/bin/wrk}
for x in "$kaohed" "$kaohectl" "$nginx" "$wrk" "$py"; do
	[ -x "$x" ] || { echo "bench_deliver.sh: $x is missing" >&2; exit 2; }
done
lead=${LEAD:-$((3 + units / 10000))}
before=${BEFORE:-3}
timeout=${TIMEOUT:-$((60 + units / 1000))}
wrk_secs=${WRK_SECS:-5}
wrk_conns=${WRK_CONNS:-128}

if [ -n "${KAOHE_BENCH_DIR:-}" ]; then
	work=$KAOHE_BENCH_DIR
	mkdir -p "$work"
	keep=1
else
	work=$(mktemp -d /tmp/kaohe-deliver-XXXXXX)
	keep=${KEEP:-0}
fi
work=$(cd "$work" && pwd)
ngx=$work/nginx
ngx_pid=""
run_pid=""
# shellcheck disable=SC2317  # called from the trap
cleanup() {
	local rc=$?
	if [ -n "$run_pid" ]; then kill "$run_pid" 2>/dev/null || true; fi
	if [ -n "$ngx_pid" ] && kill -0 "$ngx_pid" 2>/dev/null; then
		kill -QUIT "$ngx_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$ngx_pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$ngx_pid" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the sink: a private nginx on a free loopback port -------------------
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$ngx/tmp"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$ngx/nginx.conf" <<EOF
# kaohe delivery benchmark's sink
$user_line
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 4096; }
http {
  log_format deliver '\$msec \$request_method \$uri \$status \$http_x_kaohe_delivery \$content_length \$connection \$connection_requests';
  access_log $ngx/access.log deliver buffer=64k flush=100ms;
  client_body_buffer_size 64k;
  client_body_temp_path $ngx/tmp/body;
  proxy_temp_path $ngx/tmp/proxy;
  fastcgi_temp_path $ngx/tmp/fastcgi;
  uwsgi_temp_path $ngx/tmp/uwsgi;
  scgi_temp_path $ngx/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port;
    location / { return 204; }
  }
}
EOF
: >"$ngx/access.log"
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' 2>>"$ngx/error.log" &
ngx_pid=$!
up=0
for _ in $(seq 200); do
	kill -0 "$ngx_pid" 2>/dev/null || break
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
	sleep 0.05
done
if [ $up = 0 ]; then
	echo "bench_deliver.sh: nginx did not start:" >&2
	cat "$ngx/error.log" >&2
	exit 1
fi
echo "sink: nginx $("$nginx" -v 2>&1 | sed 's/.*\///'), 1 worker, http://127.0.0.1:$port/hook (return 204); $(nproc) cores"
echo "kaohed: $kaohed; $units units, one reminder each at one instant; $runs run(s)"

# --- kaohed runs ----------------------------------------------------------
failed=0
results=()
for r in $(seq "$runs"); do
	rundir=$work/run$r
	rm -rf "$rundir"
	gen=$("$py" "$here/deliver_plan.py" "$rundir" "$units" "$port" "$lead" "$before")
	slot=$(sed -n 's/.*slot_epoch=\([0-9]*\).*/\1/p' <<<"$gen")
	if ! check=$("$kaohed" -c "$rundir/kaohe.conf" --check 2>&1); then
		echo "bench_deliver.sh: the generated configuration does not check:" >&2
		echo "$check" >&2
		exit 1
	fi
	offset=$(stat -c %s "$ngx/access.log")
	echo "run $r: $gen (reminder instant = due - $before s)"
	set +e
	[ "${PERF:-0}" = 1 ] && export PERF_DATA=$rundir/perf.data && keep=1
	"$py" "$here/deliver_run.py" "$kaohed" "$kaohectl" "$rundir/kaohe.conf" "$rundir/state" \
		"$ngx/access.log" "$offset" "$units" "$slot" "$timeout" "$rundir/kaohed.log" \
		>"$rundir/result.txt" &
	run_pid=$!
	wait "$run_pid"
	rc=$?
	run_pid=""
	set -e
	grep -v '^RESULT' "$rundir/result.txt" || true
	res=$(grep '^RESULT' "$rundir/result.txt" || echo "RESULT ok=0")
	if [ $rc != 0 ]; then
		failed=1
		echo "run $r FAILED (kaohed log: $rundir/kaohed.log)"
		keep=1
		continue
	fi
	results+=("$res")
done

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { for x in "${results[@]}"; do field "$1" "$x"; done | median; }

if [ ${#results[@]} = 0 ]; then
	echo "bench_deliver.sh: no run succeeded" >&2
	exit 1
fi

# --- the baseline: wrk POSTing to the same sink ---------------------------
body=$(med body)
body=${body%.*}
[ "${body:-0}" -gt 0 ] 2>/dev/null || body=1000
"$py" - "$work/post.lua" "$body" <<'EOF'
import json, sys
path, size = sys.argv[1], int(sys.argv[2])
doc = {"delivery": 1, "kind": "before", "at": "2026-01-01T09:00:00+08:00",
       "recipient": "联络员00001", "unit": {"id": "u00001", "name": "东东街道00001社区"},
       "department": None, "period": None, "detail": None, "items": [], "subject": "",
       "text": "", "mentions": ["13900000001"]}
base = len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
doc["text"] = "x" * max(0, size - base)
body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
with open(path, "w", encoding="utf-8") as f:
    f.write('wrk.method = "POST"\n')
    f.write('wrk.headers["Content-Type"] = "application/json; charset=utf-8"\n')
    f.write('wrk.headers["X-Kaohe-Delivery"] = "0"\n')
    f.write('wrk.headers["X-Kaohe-Timestamp"] = "1767229200"\n')
    f.write("wrk.body = [==[" + body + "]==]\n")
EOF
wrk_out=$("$wrk" -t2 -c"$wrk_conns" -d"${wrk_secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/hook" 2>&1) || {
	echo "bench_deliver.sh: wrk failed:" >&2
	echo "$wrk_out" >&2
	exit 1
}
wrk_rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$wrk_out")
wrk_non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$wrk_out")
echo "wrk -t2 -c$wrk_conns -d${wrk_secs}s, POST of $body-byte JSON bodies to the same sink:" \
	"$wrk_rps req/s$([ -n "$wrk_non2xx" ] && echo ", $wrk_non2xx non-2xx answers")"
[ -n "$wrk_rps" ] || { echo "$wrk_out" >&2; exit 1; }

# --- summary ----------------------------------------------------------------
echo
n=${#results[@]}
if [ "$n" -gt 1 ]; then
	echo "per run (deliveries/s first->last, instant->last delivery s, peak RSS MB):"
	i=0
	for x in "${results[@]}"; do
		i=$((i + 1))
		printf '  run %d: %.0f/s, %.3f s, %d MB\n' "$i" "$(field rate "$x")" "$(field due_last "$x")" "$(field hwm "$x")"
	done
	what="median of $n runs"
else
	what="1 run"
fi
rate=$(med rate)
rate_due=$(med rate_due)
due_last=$(med due_last)
due_first=$(med due_first)
first_last=$(med first_last)
hwm=$(med hwm)
ready=$(med ready)
awk -v u="$units" -v what="$what" -v rate="$rate" -v rd="$rate_due" -v dl="$due_last" \
	-v df="$due_first" -v fl="$first_last" -v hwm="$hwm" -v w="$wrk_rps" -v ready="$ready" '
function verdict(ok) { return ok ? "met" : "MISSED" }
BEGIN {
	printf "%d units, %s:\n", u, what
	printf "  exec to READY=1 (fresh state):       %.3f s\n", ready
	printf "  deliveries/s (first -> last):        %.0f   (target >= 20000: %s)\n", rate, verdict(rate >= 20000)
	printf "  deliveries/s (instant -> last):      %.0f\n", rd
	printf "  reminder instant -> first delivery:  %.3f s\n", df
	printf "  reminder instant -> last delivery:   %.3f s   (target <= 2 s: %s)\n", dl, verdict(dl <= 2)
	printf "  first -> last delivery:              %.3f s\n", fl
	printf "  kaohed peak RSS (VmHWM):             %d MB   (target <= 200 MB: %s)\n", hwm, verdict(hwm <= 200)
	printf "  wrk, same sink:                      %.0f req/s\n", w
	printf "  ratio kaohed / wrk:                  %.1f %%   (target >= 25 %%: %s)\n", 100 * rate / w, verdict(100 * rate / w >= 25)
	missed = !(rate >= 20000 && dl <= 2 && hwm <= 200 && 100 * rate / w >= 25)
	exit missed
}' || missed=1
if [ $failed = 1 ]; then
	echo "bench_deliver.sh: at least one run failed" >&2
	exit 1
fi
if [ "${missed:-0}" = 1 ] && [ "${STRICT:-0}" = 1 ]; then
	echo "bench_deliver.sh: a target was missed (STRICT=1)" >&2
	exit 1
fi
exit 0
