#!/bin/bash
# Benchmark of a snapshot's publication (`kaohed publish`: every
# snapshot's pages, index.html and the feeds, in export_dir/2020/, and the
# index across years) with UNITS units (default
# 40,000), beside a baseline build in the same run.  Reports, for the
# first publication into an empty export_dir and for a second one with
# nothing changed: the publisher's CPU time (user + sys), its peak RSS,
# the file system output it caused (/usr/bin/time's %O, which counts the
# database's journal too), what it put in export_dir (names replaced and
# the bytes of the files behind them, a file linked under many names once)
# and du of export_dir.  Targets at 40,000 units: <= 30 s of
# CPU and <= 1 GB.
#
#   tests/bench/bench_publish.sh [UNITS] [BUILD_DIR] [BASE_BUILD_DIR]
#
# BUILD_DIR and BASE_BUILD_DIR hold a kaohed (and kaohectl); without
# BASE_BUILD_DIR no baseline runs.  tests/bench/build_rev.sh REV DIR
# builds one from a revision of this repository.
#
# The database: kaohed (of BUILD_DIR) started on the generated plan
# catches up the whole plan year (every unit misses every deadline), then
# a few moves: 4@2020-09-20 for eight units alone, 16a for every unit;
# kept in the work directory for the next run.  Environment:
#   KAOHE_BENCH_DIR  work directory (default /tmp/kaohe-bench-UNITS)
#   STRICT=1         a missed target is a failure too
#
# Exit status: 0 done; 1 a run failed (the publisher failed, a file is
# missing, the second publication of this build rewrote a file), or with
# STRICT=1 a target missed; 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
units=${1:-40000}
build=${2:-$here/../../build}
base=${3:-}
work=${KAOHE_BENCH_DIR:-/tmp/kaohe-bench-$units}
case $units in '' | *[!0-9]*) echo "usage: $0 [UNITS] [BUILD_DIR] [BASE_BUILD_DIR]" >&2; exit 2 ;; esac
for f in "$build/kaohed" "$build/kaohectl" ${base:+"$base/kaohed"}; do
	[ -x "$f" ] || { echo "bench_publish.sh: no $f" >&2; exit 2; }
done

[ -s "$work/plan.conf" ] || $py "$here/gen_plan.py" "$work" "$units" >/dev/null
# The 2020 plan with the source tree's official calendars, tracked from its
# in-force start (05-01): a fresh database catches up the whole year.
sed "s|^  year = 2020;|  year = 2020;\n  track_from = \"05-01\";|" "$work/plan.conf" \
	>"$work/plan-publish.conf"
sed -e "s|^kaohe: {|kaohe: {\n  calendar_dir = \"$here/../../config/calendars\";|" \
	-e 's|^@include "plan.conf"|@include "plan-publish.conf"|' "$work/kaohe.conf" \
	>"$work/publish.conf"
state=$work/publish-state
if [ ! -s "$state/kaohe.db" ]; then
	rm -rf "$state"
	mkdir -p "$state"
	sock=$state/ctl.sock
	out=$($py "$here/ready_time.py" 900 "$build/kaohed" -c "$work/publish.conf" -f \
		--state-dir "$state" --socket "$sock" --export-dir "")
	pid=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$out")
	trap 'kill "$pid" 2>/dev/null || true' EXIT
	ctl() { "$build/kaohectl" -s "$sock" "$@" >/dev/null; }
	step=$((units / 8 > 0 ? units / 8 : 1))
	for i in 1 2 3 4 5 6 7 8; do
		ctl move 4@2020-09-20 2020-09-30 --unit "$(printf 'u%05d' $(((i - 1) * step + 1)))" \
			--reason bench
	done
	ctl move 16a 2020-07-31 --reason bench
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	trap - EXIT
	echo "database: $units units, the plan year caught up, 9 moves ($(du -sh "$state/kaohe.db" | cut -f1))"
fi

# Each file under DIR as "path inode mtime size", sorted.
files() { find "$1" -type f -printf '%P %i %T@ %s\n' | sort; }

failed=0
# publish LABEL KAOHED EXPORT_DIR: one publication, measured.
publish() {
	local label=$1 kaohed=$2 dir=$3 t before after
	t=$(mktemp)
	before=$(mktemp)
	after=$(mktemp)
	files "$dir" >"$before" 2>/dev/null || : >"$before"
	if ! /usr/bin/time -f '%U %S %M %O' -o "$t" "$kaohed" -c "$work/publish.conf" \
		--state-dir "$state" --export-dir "$dir" publish; then
		echo "$label: the publisher failed" >&2
		failed=1
	fi
	files "$dir" >"$after"
	local user sys rss out
	read -r user sys rss out <"$t"
	# Replaced: a name whose inode or time changed, or new; the bytes of
	# each new inode once (the units' links to all.ics are one file).
	local replaced bytes
	read -r replaced bytes < <(awk 'FILENAME == ARGV[1] { seen[$1] = $2 " " $3; next }
		seen[$1] != $2 " " $3 { n++; if (!($2 in ino)) { ino[$2] = 1; b += $4 } }
		END { print n + 0, b + 0 }' "$before" "$after")
	local du_k nfiles
	du_k=$(du -sk "$dir" | cut -f1)
	nfiles=$(wc -l <"$after")
	awk -v l="$label" -v u="$user" -v s="$sys" -v m="$rss" -v o="$out" -v r="$replaced" \
		-v b="$bytes" -v d="$du_k" -v n="$nfiles" 'BEGIN {
		printf "%-34s cpu %6.2f s (user %.2f, sys %.2f)  rss %4d MB  fs out %7.1f MB  replaced %5d files %7.1f MB  du %7.1f MB  (%d files)\n",
			l, u + s, u, s, m / 1024, o * 512 / 1e6, r, b / 1e6, d * 1024 / 1e6, n }'
	LAST_CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
	LAST_DU=$du_k
	LAST_REPLACED=$replaced
	rm -f "$t" "$before" "$after"
}

# The plan year's files are in DIR/2020 (a baseline before plan years: DIR).
check_files() {
	local dir=$1 missing=0
	if [ -d "$dir/2020" ]; then
		[ -s "$dir/index.html" ] || { echo "missing $dir/index.html" >&2; missing=1; }
		dir=$dir/2020
	fi
	for f in 2020-Q2.html 2020-Q3.csv 2020-Q4.json index.html all.ics u00001.ics \
		"$(printf 'u%05d.ics' "$units")"; do
		[ -s "$dir/$f" ] || { echo "missing $dir/$f" >&2; missing=1; }
	done
	[ "$(find "$dir" -maxdepth 1 -name 'u*.ics' | wc -l)" -eq "$units" ] ||
		{ echo "$dir: not every unit's feed" >&2; missing=1; }
	[ "$missing" -eq 0 ] || failed=1
}

exports=$(mktemp -d "$work/exports.XXXXXX")
trap 'rm -rf "$exports"' EXIT
echo "publication of $units units (kaohed publish: 3 snapshots' pages, index.html, $((units + 1)) feeds)"
if [ -n "$base" ]; then
	publish "baseline: first publication" "$base/kaohed" "$exports/base"
	publish "baseline: again, nothing changed" "$base/kaohed" "$exports/base"
	check_files "$exports/base"
	rm -rf "$exports/base"
fi
publish "this build: first publication" "$build/kaohed" "$exports/new"
first_cpu=$LAST_CPU first_du=$LAST_DU
publish "this build: again, nothing changed" "$build/kaohed" "$exports/new"
check_files "$exports/new"
if [ "$LAST_REPLACED" -ne 0 ]; then
	echo "the second publication replaced $LAST_REPLACED files; nothing changed" >&2
	failed=1
fi
# The feeds of the units on the shared schedule are one file.
links=$(stat -c %h "$exports/new/2020/all.ics")
echo "all.ics has $links names (the units without a move of their own share it)"

miss=$(awk -v c="$first_cpu" -v d="$first_du" -v n="$units" 'BEGIN {
	t = n / 40000; if (c > 30 * t + 1 || d * 1024 > 1e9 * t + 5e6) print 1; else print 0 }')
awk -v c="$first_cpu" -v d="$first_du" 'BEGIN {
	printf "first publication: %.1f s of CPU, %.1f MB (targets at 40,000 units: 30 s, 1 GB)\n",
		c, d * 1024 / 1e6 }'
[ "$miss" -eq 0 ] || echo "target missed" >&2
[ "$failed" -eq 0 ] || exit 1
[ "${STRICT:-0}" != 1 ] || [ "$miss" -eq 0 ] || exit 1
