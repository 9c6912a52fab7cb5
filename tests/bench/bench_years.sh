#!/bin/bash
# Plan years at UNITS units (default 40000), the shipped plan re-dated to
# the current year, beside a baseline build (BASE_BUILD, e.g. the revision
# before plan years, made with tests/bench/build_rev.sh) in the same run,
# turn about (A B A B …):
#  - a restart after a 30-day outage: the database was last run 30 days
#    ago (libfaketime sets the clock of that run), the restart catches up
#    the 30 days before READY=1 (target: 5 s);
#  - exec to READY=1 on an up-to-date database: this build with two plan
#    years configured (this year's and next year's, 40,000 units each)
#    and with one, the baseline with one (targets: 1 s, 100 MB).
#
#   tests/bench/bench_years.sh BUILD BASE_BUILD [UNITS] [RUNS]
#
# ./check runs it as a smoke test with BUILD as its own baseline, at 300
# units.
#
# Each figure is READY=1 as ready_time.py measures it and kaohed's peak RSS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$1 base=$2
units=${3:-40000}
runs=${4:-3}
# The current year; before its official calendar is shipped (a January),
# the latest year that has one.
year=$(date +%Y)
while [ ! -e "$repo/config/calendars/$year.conf" ] && [ "$year" -gt 2020 ]; do
	year=$((year - 1))
done
lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -e "$lib" ] || { echo "bench_years.sh: needs faketime (scripts/deps.sh)" >&2; exit 2; }
work=${KAOHE_BENCH_DIR:-/tmp/kaohe-bench-years-$units}
mkdir -p "$work"
[ -s "$work/plan.conf" ] || /usr/bin/python3 "$here/gen_plan.py" "$work" "$units" >/dev/null
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

# This build: the official calendars of the source tree; this year's plan
# tracked from its in-force start (05-01), so that its first start catches
# up the year as the baseline's does; next year's plan (no official
# calendar yet) with a calendar of its own.
cal="calendar_dir = \"$repo/config/calendars\";"
sed "s|^  year = 2020;|  year = $year;\n  track_from = \"05-01\";|" "$work/plan.conf" \
	> "$work/plan-$year.conf"
sed -e "s|^kaohe: {|kaohe: {\n  $cal|" \
	-e "s|^@include \"plan.conf\"|plans = [ \"plan-$year.conf\" ];|" \
	"$work/kaohe.conf" > "$work/one.conf"
sed -e "s|^  year = 2020;|  year = $((year + 1));|" \
	-e 's|^  calendar = "official";|  calendar = { holidays = [ ]; workdays = [ ]; };|' \
	"$work/plan.conf" > "$work/plan-$((year + 1)).conf"
sed -e "s|^kaohe: {|kaohe: {\n  $cal|" \
	-e "s|^@include \"plan.conf\"|plans = [ \"plan-$year.conf\", \"plan-$((year + 1)).conf\" ];|" \
	"$work/kaohe.conf" > "$work/two.conf"
# The baseline reads the configuration of its own revision (made by
# build_rev.sh beside its build); a build of this tree, such as the smoke
# test's, this tree's.
base_gen=$base/../src/tests/bench/gen_plan.py
[ -e "$base_gen" ] || base_gen=$here/gen_plan.py
/usr/bin/python3 "$base_gen" "$tmp/base" "$units" >/dev/null

# The command line of a run of kaohed BUILD on CONF and STATE, then ARGS, in cmd.
run() {
	local b=$1 conf=$2 state=$3
	shift 3
	cmd=("$b/kaohed" -c "$conf" -f --state-dir "$state" --socket "$state/ctl.sock"
		--export-dir "" "$@")
}

# Start, wait for READY=1, print "ready_s=… rss_mb=…", stop.
ready() {
	local out pid
	out=$(/usr/bin/python3 "$here/ready_time.py" 600 "$@")
	pid=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$out")
	pids+=("$pid")
	kill "$pid"
	wait_gone "$pid"
	sed 's/^pid=[0-9]* //' <<<"$out"
}

# A database last run 30 days ago, in PREP, by the run in cmd.
prepare() {
	mkdir -p "$1"
	LD_PRELOAD=$lib FAKETIME="@$(date -d '30 days ago' '+%Y-%m-%d %H:%M:%S')" \
		FAKETIME_DONT_RESET=1 ready "${cmd[@]}" >/dev/null
}

run "$build" "$work/one.conf" "$tmp/new-prep"
prepare "$tmp/new-prep"
run "$base" "$tmp/base/kaohe.conf" "$tmp/base-prep" --year "$year"
prepare "$tmp/base-prep"
echo "restart after a 30-day outage, $units units (target: 5 s):"
for i in $(seq "$runs"); do
	for who in new base; do
		rm -rf "$tmp/$who-run"
		cp -a "$tmp/$who-prep" "$tmp/$who-run"
		if [ "$who" = new ]; then
			run "$build" "$work/one.conf" "$tmp/new-run"
			echo "  this build, run $i: $(ready "${cmd[@]}")"
		else
			run "$base" "$tmp/base/kaohe.conf" "$tmp/base-run" --year "$year"
			echo "  baseline,   run $i: $(ready "${cmd[@]}")"
		fi
	done
done

# Up to date: the outage's databases, caught up above; next year's plan
# is added to a copy of this build's (adopted at its first start).
cp -a "$tmp/new-run" "$tmp/two"
run "$build" "$work/two.conf" "$tmp/two"
ready "${cmd[@]}" >/dev/null
echo "exec to READY=1, up-to-date database (targets: 1 s, 100 MB):"
for i in $(seq "$runs"); do
	run "$build" "$work/two.conf" "$tmp/two"
	echo "  this build, two plan years, run $i: $(ready "${cmd[@]}")"
	run "$build" "$work/one.conf" "$tmp/new-run"
	echo "  this build, one plan year,  run $i: $(ready "${cmd[@]}")"
	run "$base" "$tmp/base/kaohe.conf" "$tmp/base-run" --year "$year"
	echo "  baseline,   one plan year,  run $i: $(ready "${cmd[@]}")"
done
